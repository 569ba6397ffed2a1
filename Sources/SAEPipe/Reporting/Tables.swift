import Foundation
import SAEPipeCore

/// A metric table written as CSV (RFC 4180 quoting) and as Markdown.
public struct Table: Sendable, Equatable {
    public var header: [String]
    public var rows: [[String]]

    public init(header: [String], rows: [[String]]) {
        self.header = header
        self.rows = rows
    }

    public func csv() -> String {
        func field(_ text: String) -> String {
            text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" })
                ? "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : text
        }
        return ([header] + rows).map { $0.map(field).joined(separator: ",") }.joined(separator: "\r\n") + "\r\n"
    }

    public func markdown() -> String {
        func cell(_ text: String) -> String {
            text.replacingOccurrences(of: "|", with: "\\|").replacingOccurrences(of: "\n", with: "<br>")
        }
        var lines = ["| " + header.map(cell).joined(separator: " | ") + " |",
                     "|" + header.map { _ in "---" }.joined(separator: "|") + "|"]
        lines += rows.map { "| " + $0.map(cell).joined(separator: " | ") + " |" }
        return lines.joined(separator: "\n") + "\n"
    }

    /// Writes NAME.csv and NAME.md into `directory`.
    public func write(to directory: String, name: String) throws {
        try FileSystem.writeAtomically(csv(), to: "\(directory)/\(name).csv")
        try FileSystem.writeAtomically(markdown(), to: "\(directory)/\(name).md")
    }

    /// An HTML table (cells escaped).
    public func html() -> String {
        "<div class=\"table\"><table><tr>" + header.map { "<th>\(ReportWriter.escape($0))</th>" }.joined() + "</tr>"
            + rows.map { "<tr>" + $0.map { "<td>\(ReportWriter.escape($0))</td>" }.joined() + "</tr>" }.joined() + "</table></div>\n"
    }

    /// Reads what `csv()` writes (RFC 4180: quoted fields may hold commas, quotes and newlines).
    public static func parseCSV(_ text: String) -> Table? {
        var records: [[String]] = []
        var record: [String] = []
        var field = ""
        var quoted = false
        var characters = text.makeIterator()
        var pending: Character? = nil
        while let character = pending ?? characters.next() {
            pending = nil
            if quoted {
                if character == "\"" {
                    let next = characters.next()
                    if next == "\"" { field.append("\"") } else { quoted = false; pending = next }
                } else {
                    field.append(character)
                }
                continue
            }
            switch character {
            case "\"": quoted = true
            case ",": record.append(field); field = ""
            case "\r\n", "\n", "\r":
                record.append(field)
                records.append(record)
                record = []
                field = ""
            default: field.append(character)
            }
        }
        if !field.isEmpty || !record.isEmpty { record.append(field); records.append(record) }
        guard let header = records.first else { return nil }
        return Table(header: header, rows: Array(records.dropFirst()))
    }
}
