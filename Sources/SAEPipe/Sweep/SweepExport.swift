import Foundation
import SAEPipeCore
import SAEPipeEngine

/// `saepipe export` on a sweep directory: report.md and a self-contained report.html with the
/// summary table, the frontier and per-key figures, and each finished variant's own bundle
/// under `variants/<name>/`.
public enum SweepExport {
    static let figureCaptions: [(prefix: String, caption: String)] = [
        ("frontier_l0_fve", "Sparsity against reconstruction: each point is one variant's SAE on its own held-out data; the line joins the Pareto-optimal variants (no other variant has both lower L0 and higher FVE)."),
        ("frontier_l0_ce_recovered", "Sparsity against the share of the language-model loss recovered when the SAE's reconstruction is spliced in; the line joins the Pareto-optimal variants."),
        ("fve_vs_", "FVE against the swept key."),
        ("l0_vs_", "L0 against the swept key."),
        ("ce_recovered_vs_", "CE loss recovered against the swept key."),
    ]

    public static func isSweep(_ directory: String) -> Bool { FileSystem.exists("\(directory)/sweep.json") }

    public static func export(sweep directory: String, to target: String, artifacts: String) throws {
        let state = try SweepState.read(directory: directory)
        guard let csv = try? String(contentsOfFile: "\(directory)/summary.csv", encoding: .utf8), let table = Table.parseCSV(csv) else {
            throw SAEPipeError.input("the sweep has no summary.csv", file: directory, hint: "run `saepipe sweep CONFIG` until it finishes")
        }
        try FileSystem.replaceDirectory(at: target.hasSuffix("/") ? String(target.dropLast()) : target) { temporary in
            for file in ["summary.csv", "summary.md", SweepState.fileName] where FileSystem.exists("\(directory)/\(file)") {
                try FileSystem.copyReplacing("\(directory)/\(file)", to: "\(temporary)/\(file)")
            }
            let figures = FileSystem.listFiles(in: "\(directory)/figures").filter { $0.hasSuffix(".png") }.sorted(by: figureOrder)
            for figure in figures { try FileSystem.copyReplacing("\(directory)/figures/\(figure)", to: "\(temporary)/figures/\(figure)") }
            var exported: [String] = []
            for variant in state.variants.map(\.name) where FileSystem.exists("\(directory)/\(variant)/\(EvalResults.fileName)") {
                try BlogExport.export(run: "\(directory)/\(variant)", to: "\(temporary)/variants/\(variant)", artifacts: artifacts)
                exported.append(variant)
            }
            let report = Report(name: state.name, state: state, table: table, figures: figures, exported: exported,
                                firstRun: exported.first.map { "\(directory)/\($0)" })
            try FileSystem.writeAtomically(report.markdown(), to: "\(temporary)/report.md")
            try FileSystem.writeAtomically(report.html(figuresIn: "\(directory)/figures"), to: "\(temporary)/report.html")
            try FileSystem.writeAtomically("written by saepipe export; a later export may replace this directory\n",
                                           to: "\(temporary)/\(BlogExport.bundleMarker)")
        }
    }

    /// Frontiers first, then per-key figures in caption order.
    static func figureOrder(_ a: String, _ b: String) -> Bool {
        let rank = { (file: String) in figureCaptions.firstIndex { file.hasPrefix($0.prefix) } ?? figureCaptions.count }
        return (rank(a), a) < (rank(b), b)
    }

    static func caption(_ file: String) -> String {
        let caption = figureCaptions.first { file.hasPrefix($0.prefix) }?.caption ?? ""
        guard caption.hasSuffix("the swept key.") else { return caption }
        let key = file.components(separatedBy: "_vs_").last?.replacingOccurrences(of: ".png", with: "") ?? ""
        return caption.replacingOccurrences(of: "the swept key", with: "`\(key)`") + " Each line holds the other swept keys fixed."
    }

    struct Report {
        var name: String
        var state: SweepState
        var table: Table
        var figures: [String]
        var exported: [String]
        var firstRun: String?

        var axes: [String] {
            state.axes.map { axis in
                let values = axis.values.map { $0.stringValue ?? $0.scalarDescription }.joined(separator: ", ")
                return "`\(axis.key)` (\(axis.kind): \(values))"
            }
        }

        /// The setting the variants share, from the first finished variant's manifest.
        var setting: String {
            guard let run = firstRun, let config = try? RunManifest.read(runDirectory: run).config else { return "" }
            let text = { (path: String) in config[path: path].stringValue ?? config[path: path].scalarDescription }
            let labels = DatasetLabels(config: config)
            return "Base setting: model `\(text("model.name"))`, layer \(text("model.layer")) `\(text("model.stream"))` (unless swept); SAE A is trained on \(labels[.A]), SAE B on \(labels[.B])."
        }

        /// Pareto-optimal variants per side, by the summary's pareto columns.
        var frontier: [String] {
            ["A", "B"].compactMap { side in
                guard let flag = table.header.firstIndex(of: "pareto_\(side)"), let l0 = table.header.firstIndex(of: "\(side).l0"),
                    let fve = table.header.firstIndex(of: "\(side).fve")
                else { return nil }
                let rows = table.rows.filter { $0[flag] == "yes" }.sorted { (Double($0[l0]) ?? 0) < (Double($1[l0]) ?? 0) }
                guard !rows.isEmpty else { return nil }
                return "SAE \(side)'s L0–FVE frontier: " + rows.map { "`\($0[0])` (L0 \($0[l0]), FVE \($0[fve]))" }.joined(separator: ", ") + "."
            }
        }

        func markdown() -> String {
            var text = "# Sweep: \(name)\n\n\(setting)\n\nSwept: \(axes.joined(separator: "; ")). \(table.rows.count) variants.\n\n"
            text += frontier.map { "- \($0)" }.joined(separator: "\n") + "\n\n## Summary\n\n" + table.markdown() + "\n"
            for figure in figures {
                let caption = SweepExport.caption(figure)
                text += "![\(caption)](figures/\(figure))\n\n*\(caption)*\n\n"
            }
            if !exported.isEmpty {
                text += "## Variants\n\n" + exported.map { "- [\($0)](variants/\($0)/report.md)" }.joined(separator: "\n") + "\n"
            }
            return text
        }

        func html(figuresIn directory: String) -> String {
            let e = ReportWriter.escape, p = ReportWriter.prose
            var body = "<h1>Sweep: \(e(name))</h1>\n<p>\(p(setting))</p>\n<p>Swept: \(p(axes.joined(separator: "; "))). \(table.rows.count) variants.</p>\n"
            body += "<ul>" + frontier.map { "<li>\(p($0))</li>" }.joined() + "</ul>\n<h2>Summary</h2>\n" + table.html()
            for figure in figures {
                guard let data = FileManager.default.contents(atPath: "\(directory)/\(figure)") else { continue }
                let caption = SweepExport.caption(figure)
                body += "<figure><img alt=\"\(e(caption))\" src=\"data:image/png;base64,\(data.base64EncodedString())\"><figcaption>\(p(caption))</figcaption></figure>\n"
            }
            if !exported.isEmpty {
                body += "<h2>Variants</h2>\n<ul>" + exported.map { "<li><a href=\"variants/\(e($0))/report.html\">\(e($0))</a></li>" }.joined() + "</ul>\n"
            }
            return "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>Sweep: \(e(name))</title><style>\(ReportWriter.style)</style></head>\n<body>\n\(body)</body></html>\n"
        }
    }
}
