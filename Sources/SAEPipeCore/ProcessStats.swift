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

    /// The CPU's model name (/proc/cpuinfo), so a benchmark says which machine its figures came from.
    public static var cpuModel: String? {
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("model name") {
            return line.split(separator: ":", maxSplits: 1).last.map { $0.trimmingCharacters(in: .whitespaces) }
        }
        return nil
    }

    public static func describeMemory() -> String {
        let mib = { (bytes: Int?) in bytes.map { String(format: "%.0f MiB", Double($0) / 1_048_576) } ?? "?" }
        return "rss \(mib(residentBytes)), peak \(mib(peakResidentBytes))"
    }
}
