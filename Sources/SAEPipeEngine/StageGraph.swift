import Foundation
import SAEPipeCore

/// The pipeline's stages in dependency order, with selection by id or kind.
public struct StageGraph: Sendable {
    public let stages: [StageSpec]
    private let index: [StageID: Int]

    /// Checks ids are unique, upstreams exist and there is no cycle; orders stages topologically
    /// (stable: among ready stages, declaration order wins).
    public init(_ declared: [StageSpec]) throws {
        var seen: [StageID: Int] = [:]
        for (position, stage) in declared.enumerated() {
            if seen[stage.id] != nil { throw SAEPipeError.runtime("two stages share the id \(stage.id)") }
            seen[stage.id] = position
        }
        for stage in declared {
            for up in stage.upstream where seen[up] == nil {
                throw SAEPipeError.runtime("stage \(stage.id) names unknown upstream \(up)")
            }
        }
        var ordered: [StageSpec] = []
        var placed = Set<StageID>()
        while ordered.count < declared.count {
            guard let next = declared.first(where: { !placed.contains($0.id) && $0.upstream.allSatisfy(placed.contains) })
            else {
                let stuck = declared.filter { !placed.contains($0.id) }.map(\.id.rawValue)
                throw SAEPipeError.runtime("stage graph has a cycle among: " + stuck.joined(separator: ", "))
            }
            ordered.append(next)
            placed.insert(next.id)
        }
        stages = ordered
        index = Dictionary(uniqueKeysWithValues: ordered.enumerated().map { ($1.id, $0) })
    }

    public func stage(_ id: StageID) -> StageSpec? { index[id].map { stages[$0] } }

    public func downstream(of id: StageID) -> [StageSpec] { stages.filter { $0.upstream.contains(id) } }

    /// Stage ids matching a selector: an exact id (`train.A`) or a kind (`train`).
    public func resolve(selector: String) throws -> Set<StageID> {
        if index[StageID(selector)] != nil { return [StageID(selector)] }
        let byKind = Set(stages.filter { $0.kind == selector }.map(\.id))
        if !byKind.isEmpty { return byKind }
        let names = Array(Set(stages.map(\.id.rawValue) + stages.map(\.kind))).sorted()
        let suggestion = ConfigSchema.closest(to: selector, in: names).map { " — did you mean `\($0)`?" } ?? ""
        throw SAEPipeError.input(
            "no stage `\(selector)`\(suggestion)", hint: "stages: " + names.joined(separator: ", "))
    }

    public func ancestors(of ids: Set<StageID>) -> Set<StageID> {
        var result = ids
        var frontier = Array(ids)
        while let id = frontier.popLast() {
            for up in stage(id)?.upstream ?? [] where !result.contains(up) {
                result.insert(up)
                frontier.append(up)
            }
        }
        return result
    }

    public func descendants(of ids: Set<StageID>) -> Set<StageID> {
        var result = ids
        for stage in stages where stage.upstream.contains(where: result.contains) { result.insert(stage.id) }
        return result
    }
}
