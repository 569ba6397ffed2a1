import Foundation

/// The one way saepipe prints a measured number in tables, summaries and reports.
public enum NumberFormat {
    /// Fixed-point with `digits` decimals; "n/a" for a missing or non-finite value.
    public static func fixed(_ value: Double?, digits: Int = 4) -> String {
        guard let value, value.isFinite else { return "n/a" }
        return String(format: "%.\(digits)f", value)
    }

    /// A count as a reader says it: 300k, 2M, 1.5M, 750.
    public static func count(_ value: Int) -> String {
        for (divisor, suffix) in [(1_000_000_000.0, "G"), (1_000_000.0, "M"), (1_000.0, "k")] where Double(abs(value)) >= divisor {
            return short((Double(value) / divisor * 100).rounded() / 100) + suffix
        }
        return String(value)
    }

    /// The shortest plain form: 3 for 3.0, 0.0004 for 4e-4, 2.5 for 2.5.
    public static func short(_ value: Double) -> String {
        if value == value.rounded(), abs(value) < 1e15 { return String(Int(value)) }
        return String(format: "%g", value)
    }
}

/// Token text made visible on one line: newline as ↵ and carriage return as ␍ (a raw CR in
/// Markdown or HTML would break the line or vanish).
public enum VisibleText {
    public static func oneLine(_ text: String) -> String {
        text.replacingOccurrences(of: "\r", with: "␍").replacingOccurrences(of: "\n", with: "↵")
    }

}
