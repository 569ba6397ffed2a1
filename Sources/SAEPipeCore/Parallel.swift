import Foundation

/// Data-parallel loops over the cores for element-wise work.
public enum Parallel {
    /// Splits `count` items into one contiguous chunk per core (fewer when a chunk would hold
    /// under `minimumChunk` items) and runs `body` on the chunks concurrently.
    @inline(__always)
    public static func chunks(_ count: Int, minimumChunk: Int = 4096, _ body: (Range<Int>) -> Void) {
        let chunks = max(1, min(ProcessInfo.processInfo.activeProcessorCount, count / max(1, minimumChunk)))
        if chunks == 1 {
            body(0..<count)
            return
        }
        // The chunks touch disjoint ranges of the caller's buffers.
        nonisolated(unsafe) let body = body
        DispatchQueue.concurrentPerform(iterations: chunks) { chunk in
            body((count * chunk / chunks)..<(count * (chunk + 1) / chunks))
        }
    }
}
