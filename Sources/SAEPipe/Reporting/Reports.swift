import Foundation
import SAEPipeCore
import SAEPipeEngine

/// Plain-text tables for the terminal.
public enum TextTable {
    public static func render(header: [String], rows: [[String]]) -> String {
        var widths = header.map(\.count)
        for row in rows {
            for (index, cell) in row.enumerated() where index < widths.count {
                widths[index] = max(widths[index], cell.count)
            }
        }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { index, cell in
                index == cells.count - 1 ? cell : cell.padding(toLength: widths[index], withPad: " ", startingAt: 0)
            }.joined(separator: "  ")
        }
        var lines = [line(header), line(widths.map { String(repeating: "-", count: $0) })]
        lines += rows.map(line)
        return lines.joined(separator: "\n") + "\n"
    }
}

public enum StatusReport {
    /// One line per stage: cached / will run / not selected and its key, then why it runs,
    /// one reason per line below it, wrapped to fit `width` columns.
    public static func render(_ plans: [StagePlan], width: Int = 80) -> String {
        if plans.isEmpty { return "no stages are defined for this config\n" }
        let rows = plans.map { plan -> [String] in
            let action: String
            switch plan.action {
            case .cached: action = "cached"
            case .run: action = "will run"
            case .notSelected: action = plan.reasons.isEmpty ? "cached (not selected)" : "not selected"
            }
            return [plan.stage.id.rawValue, action, String(plan.key.prefix(12))]
        }
        let table = TextTable.render(header: ["stage", "status", "key"], rows: rows).split(separator: "\n", omittingEmptySubsequences: false)
        var lines = Array(table.prefix(2)).map(String.init)
        for (index, plan) in plans.enumerated() {
            lines.append(String(table[index + 2]))
            for reason in plan.reasons { lines += wrap(reason, width: width, first: "  - ", rest: "    ") }
        }
        return lines.joined(separator: "\n").trimmingCharacters(in: .newlines) + "\n"
    }

    /// Where the run's outputs go, and why when it is not `outputs/<run_name>/`.
    public static func destination(_ location: RunLocation) -> String {
        guard let note = location.note else { return "outputs: \(location.path)/" }
        return wrap("outputs: \(location.path)/ — \(note)", width: 80, first: "", rest: "  ").joined(separator: "\n")
    }

    /// `text` broken at spaces into lines of at most `width` columns (a longer word is cut).
    static func wrap(_ text: String, width: Int, first: String, rest: String) -> [String] {
        var lines: [String] = []
        var line = first
        var lineHasWord = false
        for word in text.split(separator: " ").map(String.init) {
            var word = word
            let limit = width - (lineHasWord ? line.count + 1 : line.count)
            if word.count > limit, lineHasWord {
                lines.append(line)
                line = rest
                lineHasWord = false
            }
            while word.count > width - line.count {
                let room = width - line.count
                lines.append(line + word.prefix(room))
                word = String(word.dropFirst(room))
                line = rest
            }
            line += (lineHasWord ? " " : "") + word
            lineHasWord = true
        }
        lines.append(line)
        return lines
    }

    /// The per-stage timing summary printed at the end of a run.
    public static func timings(_ report: RunReport) -> String {
        let rows = report.outcomes.map { outcome in
            [outcome.id.rawValue, outcome.status.rawValue, outcome.status == .ran ? Progress.duration(outcome.seconds) : "-"]
        }
        var text = TextTable.render(header: ["stage", "result", "time"], rows: rows)
        text += "total \(Progress.duration(report.seconds))"
        if let directory = report.runDirectory { text += " — outputs in \(directory)/" }
        return text + "\n"
    }
}

/// The compact summary `saepipe run` prints at the end: key metrics per pair and where the outputs are.
public enum RunSummary {
    public static func render(runDirectory: String) -> String? {
        guard let results = try? EvalResults.read(runDirectory: runDirectory) else { return nil }
        let rows = SAEPair.all.compactMap { pair -> [String]? in
            guard let m = results.eval[pair] else { return nil }
            return [pair.key, m.withInterval("fve", m.fve), m.withInterval("l0", m.l0, digits: 1), NumberFormat.fixed(m.deadFraction, digits: 3),
                    m.withInterval("ce_loss_sae", m.ceLossSAE), m.withInterval("ce_recovered", m.ceRecovered),
                    m.withInterval("kl_score", m.klScore)]
        }
        var text = "results (SAE trained on -> evaluated on; \(results.hook); ± is half a 95% bootstrap interval)\n"
        text += TextTable.render(header: ["pair", "fve", "l0", "dead", "ce sae", "ce recovered", "kl score"], rows: rows)
        if !results.health.isEmpty {
            text += "health:\n" + results.health.enumerated().sorted { ($0.element.severity, $1.offset) > ($1.element.severity, $0.offset) }
                .map { "  \($0.element.severity.rawValue) [\($0.element.pairOrSide)] \($0.element.message)" }.joined(separator: "\n") + "\n"
        }
        let outputs = [EvalResults.fileName, "tables/", "figures/", "features/"].filter { FileSystem.exists("\(runDirectory)/\($0)") }
        text += "outputs: " + outputs.map { "\(runDirectory)/\($0)" }.joined(separator: "  ") + "\n"
        return text
    }
}
