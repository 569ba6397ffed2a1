import Dispatch
import Foundation

/// What Ctrl-C (SIGINT) and SIGTERM do: training in progress writes a checkpoint at its current
/// step and says how to resume; anything else stops at once. Either way the process exits with
/// 128 + the signal (130, 143); finished stages stay cached and temporaries of the killed stage
/// are removed by the next run. A second signal exits immediately.
public final class Interruption: @unchecked Sendable {
    public static let shared = Interruption()

    private let lock = NSLock()
    private var received: Int32?
    private var trainers = 0
    private var reports: [String] = []
    private var notes: [String] = []
    private var sources: [DispatchSourceSignal] = []
    /// If a trainer has not checkpointed within this long, stop anyway.
    static let checkpointGrace: TimeInterval = 60

    /// The signal received, if any; trainers poll this once per step.
    public var requested: Int32? { lock.withLock { received } }

    public func install() {
        lock.withLock {
            guard sources.isEmpty else { return }
            for number in [SIGINT, SIGTERM] {
                signal(number, SIG_IGN)  // delivered to the dispatch source instead of killing the process
                let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
                source.setEventHandler { [unowned self] in self.handle(number) }
                source.resume()
                sources.append(source)
            }
        }
    }

    /// Hands SIGINT and SIGTERM back (to a server that shuts down gracefully on them).
    public func uninstall() {
        lock.withLock {
            for source in sources { source.cancel() }
            sources.removeAll()
        }
    }

    /// A line to add when a signal stops the process (e.g. that submitted jobs keep running).
    public func addNote(_ note: String) { lock.withLock { notes.append(note) } }

    /// Brackets a training loop that honours `requested` by checkpointing.
    public func beginTraining() { lock.withLock { trainers += 1 } }
    public func endTraining() {
        let stopNow: Bool = lock.withLock {
            trainers -= 1
            return received != nil && trainers <= 0
        }
        if stopNow { finish() }  // the signal came while this trainer was finishing on its own
    }

    /// A trainer stopped for the signal (after writing its checkpoint, if it has a directory):
    /// records what it says and exits once every trainer has stopped. Never returns.
    public func trainerStopped(_ report: String) -> Never {
        let last: Bool = lock.withLock {
            reports.append(report)
            trainers -= 1
            return trainers <= 0
        }
        if last { finish() }
        while true { sleep(1000) }  // the last trainer to stop exits the process
    }

    private func handle(_ number: Int32) {
        let (first, waiting) = lock.withLock { () -> (Bool, Bool) in
            let first = received == nil
            if first { received = number }
            return (first, trainers > 0)
        }
        guard first else {
            Self.write("saepipe: \(Self.name(number)) again: stopping now without a checkpoint\n")
            exit(128 + number)
        }
        guard waiting else { finish() }
        Self.write("saepipe: \(Self.name(number)) received: writing a checkpoint at the current training step, then stopping (press Ctrl-C again to stop at once)\n")
        DispatchQueue.global().asyncAfter(deadline: .now() + Self.checkpointGrace) { [self] in finish() }
    }

    private func finish() -> Never {
        let (number, reports, notes) = lock.withLock { (received ?? SIGINT, self.reports, self.notes) }
        var text = "saepipe: interrupted by \(Self.name(number))"
        text += reports.isEmpty ? ".\n" : ":\n" + reports.map { "  \($0)\n" }.joined()
        text += notes.map { "  \($0.prefix(1).uppercased() + $0.dropFirst()).\n" }.joined()
        text += "  Finished stages stay cached; run the same command again to continue"
        text += reports.isEmpty ? ".\n" : " (training resumes from its checkpoint).\n"
        Self.write(text)
        exit(128 + number)
    }

    static func name(_ number: Int32) -> String { number == SIGTERM ? "SIGTERM" : number == SIGINT ? "SIGINT" : "signal \(number)" }

    static func write(_ text: String) { FileHandle.standardError.write(Data(text.utf8)) }
}
