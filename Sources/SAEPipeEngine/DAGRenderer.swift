import Foundation

/// The stage graph as text, Graphviz dot, or Mermaid.
public enum DAGRenderer {
    public enum Format: String, CaseIterable, Sendable { case text, dot, mermaid }

    public static func render(_ graph: StageGraph, plans: [StagePlan] = [], format: Format) -> String {
        let actions = Dictionary(uniqueKeysWithValues: plans.map { ($0.stage.id, $0.action) })
        func label(_ id: StageID) -> String {
            switch actions[id] {
            case .cached: return "\(id) (cached)"
            case .run: return "\(id) (will run)"
            case .notSelected: return "\(id) (not selected)"
            case nil: return id.rawValue
            }
        }
        switch format {
        case .text:
            var lines: [String] = []
            for stage in graph.stages {
                let from = stage.upstream.isEmpty ? "" : "  ← " + stage.upstream.map(\.rawValue).joined(separator: ", ")
                lines.append(label(stage.id) + from)
            }
            return lines.joined(separator: "\n") + "\n"
        case .dot:
            var lines = ["digraph saepipe {", "  rankdir=LR;", "  node [shape=box, fontname=\"DejaVu Sans\"];"]
            for stage in graph.stages {
                let style = actions[stage.id] == .run ? ", style=filled, fillcolor=\"#f0e442\"" : ""
                lines.append("  \"\(stage.id)\" [label=\"\(label(stage.id))\"\(style)];")
            }
            for stage in graph.stages {
                for up in stage.upstream { lines.append("  \"\(up)\" -> \"\(stage.id)\";") }
            }
            lines.append("}")
            return lines.joined(separator: "\n") + "\n"
        case .mermaid:
            func node(_ id: StageID) -> String { id.rawValue.replacingOccurrences(of: ".", with: "_").replacingOccurrences(of: "-", with: "_") }
            var lines = ["graph LR"]
            for stage in graph.stages { lines.append("  \(node(stage.id))[\"\(label(stage.id))\"]") }
            for stage in graph.stages {
                for up in stage.upstream { lines.append("  \(node(up)) --> \(node(stage.id))") }
            }
            return lines.joined(separator: "\n") + "\n"
        }
    }
}
