import Foundation
import SAEPipeCore

/// Where inside a block an activation is read or replaced.
public enum HookSite: String, Sendable, CaseIterable, Comparable {
    /// The block's input (the residual stream before the block).
    case residPre = "resid_pre"
    /// The attention module's output, after its output projection.
    case attnOut = "attn_out"
    /// The MLP module's output.
    case mlpOut = "mlp_out"
    /// The block's output (the residual stream after the block).
    case residPost = "resid_post"

    /// Order of computation inside a block (attention before MLP).
    var order: Int { HookSite.allCases.firstIndex(of: self)! }
    public static func < (lhs: HookSite, rhs: HookSite) -> Bool { lhs.order < rhs.order }

    /// The config's `stream` names map onto sites.
    public init?(stream: String) {
        switch stream {
        case "mlp_output", "mlp_out": self = .mlpOut
        case "attn_output", "attn_out": self = .attnOut
        case "resid_post": self = .residPost
        case "resid_pre": self = .residPre
        default: return nil
        }
    }
}

/// One named activation: `layers.{i}.{site}`.
public struct HookPoint: Hashable, Sendable, Comparable, CustomStringConvertible {
    public var layer: Int
    public var site: HookSite

    public init(layer: Int, site: HookSite) {
        self.layer = layer
        self.site = site
    }

    public var description: String { "layers.\(layer).\(site.rawValue)" }

    public static func < (lhs: HookPoint, rhs: HookPoint) -> Bool { (lhs.layer, lhs.site) < (rhs.layer, rhs.site) }

    /// Accepts `layers.3.mlp_out` and the TransformerLens aliases `blocks.3.hook_mlp_out`,
    /// `blocks.3.hook_attn_out`, `blocks.3.hook_resid_pre`, `blocks.3.hook_resid_post`.
    public init(parsing name: String) throws {
        let parts = name.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        let sites: [String: HookSite] = [
            "resid_pre": .residPre, "attn_out": .attnOut, "mlp_out": .mlpOut, "resid_post": .residPost,
            "hook_resid_pre": .residPre, "hook_attn_out": .attnOut, "hook_mlp_out": .mlpOut,
            "hook_resid_post": .residPost,
        ]
        guard parts.count == 3, parts[0] == "layers" || parts[0] == "blocks", let layer = Int(parts[1]), layer >= 0,
            let site = sites[parts[2]], parts[0] == "blocks" ? parts[2].hasPrefix("hook_") : !parts[2].hasPrefix("hook_")
        else {
            throw SAEPipeError.input(
                "unknown hook name `\(name)`",
                hint: "use layers.N.{resid_pre,attn_out,mlp_out,resid_post} or blocks.N.hook_{resid_pre,attn_out,mlp_out,resid_post}")
        }
        self.init(layer: layer, site: site)
    }
}

/// Which outputs after the last block a forward pass computes.
public struct HeadOutputs: OptionSet, Sendable {
    public let rawValue: Int
    public init(rawValue: Int) { self.rawValue = rawValue }
    /// Logits of the last position of every sequence, [B, V].
    public static let lastLogits = HeadOutputs(rawValue: 1)
    /// Next-token negative log-likelihood (natural log), [B, T-1].
    public static let tokenNLL = HeadOutputs(rawValue: 2)
    /// Logits of every position, [B, T, V] (memory grows with B·T·V).
    public static let allLogits = HeadOutputs(rawValue: 4)
}

/// Replaces a hooked activation in place. The buffer holds [rows, d_model] for rows
/// `firstRow ..< firstRow + rows` of the batch's B·T rows (sequences run in parallel
/// groups, so the closure may be called from several threads at once).
public typealias HookIntervention = @Sendable (_ point: HookPoint, _ firstRow: Int, _ buffer: UnsafeMutableBufferPointer<Float>) throws -> Void

/// What one forward pass reads, replaces and returns.
public struct ForwardRequest: Sendable {
    /// Activations to copy out, each [B·T, d_model].
    public var capture: Set<HookPoint>
    /// Activations handed to `intervention`, which may overwrite them before the model continues.
    public var intervene: Set<HookPoint>
    public var intervention: HookIntervention?
    public var outputs: HeadOutputs
    /// Start at this layer's `resid_pre` with the given residual [B·T, d] (layers below computed earlier).
    public var startLayer: Int
    public var startResidual: [Float]?
    /// Threads for this pass (whole sequences split between them); nil: the process's BLAS budget.
    public var threads: Int?

    public init(
        capture: Set<HookPoint> = [], intervene: Set<HookPoint> = [], intervention: HookIntervention? = nil,
        outputs: HeadOutputs = [], startLayer: Int = 0, startResidual: [Float]? = nil, threads: Int? = nil
    ) {
        self.threads = threads
        self.capture = capture
        self.intervene = intervene
        self.intervention = intervention
        self.outputs = outputs
        self.startLayer = startLayer
        self.startResidual = startResidual
    }

    /// The deepest hook anyone needs; nil when nothing is hooked.
    var deepestHook: HookPoint? { capture.union(intervene).max() }
}

/// Token ids of equal-length sequences, row-major [batch, seqLen].
public struct TokenBatch: Sendable {
    public var ids: [Int32]
    public var batch: Int
    public var seqLen: Int

    public init(ids: [Int32], batch: Int, seqLen: Int) {
        precondition(ids.count == batch * seqLen, "ids must hold batch × seqLen tokens")
        self.ids = ids
        self.batch = batch
        self.seqLen = seqLen
    }

    /// From a list of equal-length lists (the `forward --ids` file format).
    public init(sequences: [[Int]]) throws {
        guard let first = sequences.first, !first.isEmpty else {
            throw SAEPipeError.input("no token sequences given", hint: "give a list of equal-length lists of ids")
        }
        guard sequences.allSatisfy({ $0.count == first.count }) else {
            throw SAEPipeError.input(
                "sequences have different lengths (\(Set(sequences.map(\.count)).sorted()))",
                hint: "pad or cut every sequence to the same number of tokens")
        }
        self.init(ids: sequences.flatMap { $0.map { Int32(truncatingIfNeeded: $0) } }, batch: sequences.count,
                  seqLen: first.count)
    }

    public var tokenCount: Int { batch * seqLen }
}

/// What a forward pass returns.
public struct ForwardResult: Sendable {
    public var captured: [HookPoint: [Float]] = [:]
    public var lastLogits: [Float]?
    public var allLogits: [Float]?
    public var tokenNLL: [Float]?
    /// Groups of sequences the pass ran as, one thread each.
    public var groups = 1

    public init() {}
}
