import Foundation

/// The one way saepipe prints a measured number in tables, summaries and reports.
public enum NumberFormat {
    /// Fixed-point with `digits` decimals; "n/a" for a missing or non-finite value.
    public static func fixed(_ value: Double?, digits: Int = 4) -> String {
        guard let value, value.isFinite else { return "n/a" }
        return String(format: "%.\(digits)f", value)
    }
}

/// Token text made visible on one line: newline as ↵ and carriage return as ␍ (a raw CR in
/// Markdown or HTML would break the line or vanish).
public enum VisibleText {
    public static func oneLine(_ text: String) -> String {
        text.replacingOccurrences(of: "\r", with: "␍").replacingOccurrences(of: "\n", with: "↵")
    }
}
