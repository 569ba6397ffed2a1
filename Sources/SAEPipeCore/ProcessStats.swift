import Foundation

/// Memory figures of this process from /proc (Linux), for logs and benchmarks.
public enum ProcessStats {
    /// Peak resident set size in bytes (VmHWM), nil where /proc is unavailable.
    public static var peakResidentBytes: Int? { field("VmHWM") }
    /// Current resident set size in bytes (VmRSS).
    public static var residentBytes: Int? { field("VmRSS") }

    private static func field(_ name: String) -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix(name + ":") {
            let digits = line.split(separator: " ").compactMap { Int($0) }.first
            return digits.map { $0 * 1024 }
        }
        return nil
    }

    public static func describeMemory() -> String {
        let mib = { (bytes: Int?) in bytes.map { String(format: "%.0f MiB", Double($0) / 1_048_576) } ?? "?" }
        return "rss \(mib(residentBytes)), peak \(mib(peakResidentBytes))"
    }
}
