import Foundation
import SAEPipeCore
import SAEPipeLinalg

/// GPT-NeoX (Pythia) as transformers' `GPTNeoXForCausalLM`.
public struct GPTNeoXConfiguration: Decodable, Sendable {
    public var hiddenSize: Int
    public var numAttentionHeads: Int
    public var numHiddenLayers: Int
    public var intermediateSize: Int
    public var vocabSize: Int
    public var maxPositionEmbeddings: Int
    public var layerNormEps: Double
    public var useParallelResidual: Bool
    public var hiddenAct: String
    public var rotaryPct: Double
    public var rotaryEmbBase: Double
    public var attentionBias: Bool

    enum CodingKeys: String, CodingKey {
        case hiddenSize = "hidden_size", numAttentionHeads = "num_attention_heads"
        case numHiddenLayers = "num_hidden_layers", intermediateSize = "intermediate_size"
        case vocabSize = "vocab_size", maxPositionEmbeddings = "max_position_embeddings"
        case layerNormEps = "layer_norm_eps", useParallelResidual = "use_parallel_residual"
        case hiddenAct = "hidden_act", rotaryPct = "rotary_pct", rotaryEmbBase = "rotary_emb_base"
        case attentionBias = "attention_bias", ropeParameters = "rope_parameters", ropeScaling = "rope_scaling"
    }

    /// transformers ≥ 4.56 writes rotary settings here instead of the top-level keys.
    struct RopeParameters: Decodable {
        var ropeTheta: Double?
        var partialRotaryFactor: Double?
        var ropeType: String?
        enum CodingKeys: String, CodingKey {
            case ropeTheta = "rope_theta", partialRotaryFactor = "partial_rotary_factor", ropeType = "rope_type"
        }
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        hiddenSize = try c.decode(Int.self, forKey: .hiddenSize)
        numAttentionHeads = try c.decode(Int.self, forKey: .numAttentionHeads)
        numHiddenLayers = try c.decode(Int.self, forKey: .numHiddenLayers)
        // The default is 4 × hidden; a hidden size too large for that is refused by the size checks below.
        let fourTimesHidden = hiddenSize.multipliedReportingOverflow(by: 4)
        intermediateSize = try c.decodeIfPresent(Int.self, forKey: .intermediateSize)
            ?? (fourTimesHidden.overflow ? Int.max : fourTimesHidden.partialValue)
        vocabSize = try c.decode(Int.self, forKey: .vocabSize)
        maxPositionEmbeddings = try c.decodeIfPresent(Int.self, forKey: .maxPositionEmbeddings) ?? 2048
        layerNormEps = try c.decodeIfPresent(Double.self, forKey: .layerNormEps) ?? 1e-5
        useParallelResidual = try c.decodeIfPresent(Bool.self, forKey: .useParallelResidual) ?? true
        hiddenAct = try c.decodeIfPresent(String.self, forKey: .hiddenAct) ?? "gelu"
        attentionBias = try c.decodeIfPresent(Bool.self, forKey: .attentionBias) ?? true
        let rope = try c.decodeIfPresent(RopeParameters.self, forKey: .ropeParameters)
        rotaryPct = try c.decodeIfPresent(Double.self, forKey: .rotaryPct) ?? rope?.partialRotaryFactor ?? 0.25
        rotaryEmbBase = try c.decodeIfPresent(Double.self, forKey: .rotaryEmbBase) ?? rope?.ropeTheta ?? 10000
        let scaling = try c.decodeIfPresent(RopeParameters.self, forKey: .ropeScaling)
        for type in [rope?.ropeType, scaling?.ropeType].compactMap({ $0 }) where type != "default" {
            throw SAEPipeError.input("rope type `\(type)` is not supported", key: "rope_parameters.rope_type",
                                     hint: "saepipe implements the default rotary embedding")
        }
        guard hiddenAct == "gelu" else {
            throw SAEPipeError.input("hidden_act `\(hiddenAct)` is not supported for GPT-NeoX", key: "hidden_act",
                                     hint: "saepipe implements the exact erf GELU (`gelu`) that Pythia uses")
        }
        let checks = ConfigChecks(architecture: "GPT-NeoX")
        try checks.sizes(hidden: hiddenSize, intermediate: intermediateSize, layers: numHiddenLayers, heads: numAttentionHeads,
                         vocabulary: vocabSize, positions: maxPositionEmbeddings)
        try checks.positive(layerNormEps, "layer_norm_eps", below: 1)
        try checks.positive(rotaryEmbBase, "rotary_emb_base")
        guard rotaryPct >= 0, rotaryPct <= 1 else {
            throw SAEPipeError.input("`rotary_pct` is \(rotaryPct); it must lie in 0…1", key: "rotary_pct")
        }
        guard hiddenSize % numAttentionHeads == 0 else {
            throw SAEPipeError.input("hidden_size \(hiddenSize) is not a multiple of num_attention_heads \(numAttentionHeads)",
                                     key: "num_attention_heads")
        }
    }

    var headDim: Int { hiddenSize / numAttentionHeads }
    var rotaryDims: Int { Int(Double(headDim) * rotaryPct) }
}

struct GPTNeoX: DecoderArchitecture {
    struct Layer: Sendable {
        var inputNorm: (weight: [Float], bias: [Float])
        var postAttentionNorm: (weight: [Float], bias: [Float])
        /// Output features laid out per head as [q | k | v] blocks of headDim.
        var queryKeyValue: Linear
        var dense: Linear
        var up: Linear
        var down: Linear
    }

    let config: GPTNeoXConfiguration
    let embedding: EmbeddingTable
    let layers: [Layer]
    let finalNorm: (weight: [Float], bias: [Float])
    let unembedding: Linear?
    let rotary: RotaryEmbedding

    var loadedLayers: Int { layers.count }

    var dimensions: ModelDimensions {
        ModelDimensions(
            architecture: "GPTNeoXForCausalLM", dModel: config.hiddenSize, layerCount: config.numHiddenLayers,
            heads: config.numAttentionHeads, kvHeads: config.numAttentionHeads, headDim: config.headDim,
            intermediate: config.intermediateSize, vocabSize: config.vocabSize,
            maxPositions: config.maxPositionEmbeddings, tiedEmbeddings: false,
            parallelResidual: config.useParallelResidual)
    }

    /// Reads transformers' tensor names (`gpt_neox.…`, unembedding `embed_out` or `lm_head`).
    init(config: GPTNeoXConfiguration, weights: some WeightSource, scope: LoadScope) throws {
        self.config = config
        let (d, ff, vocab) = (config.hiddenSize, config.intermediateSize, config.vocabSize)
        func norm(_ name: String) throws -> (weight: [Float], bias: [Float]) {
            (try weights.floats("\(name).weight", shape: [d]), try weights.floats("\(name).bias", shape: [d]))
        }
        embedding = try EmbeddingTable(
            weights.view("gpt_neox.embed_in.weight", shape: [vocab, d]), vocabSize: vocab, width: d)
        layers = try (0..<scope.layerCount(of: config.numHiddenLayers)).map { i in
            let prefix = "gpt_neox.layers.\(i)"
            return Layer(
                inputNorm: try norm("\(prefix).input_layernorm"),
                postAttentionNorm: try norm("\(prefix).post_attention_layernorm"),
                queryKeyValue: try weights.linear("\(prefix).attention.query_key_value", out: 3 * d, in: d,
                                                  bias: config.attentionBias),
                dense: try weights.linear("\(prefix).attention.dense", out: d, in: d, bias: config.attentionBias),
                up: try weights.linear("\(prefix).mlp.dense_h_to_4h", out: ff, in: d, bias: true),
                down: try weights.linear("\(prefix).mlp.dense_4h_to_h", out: d, in: ff, bias: true))
        }
        finalNorm = try norm("gpt_neox.final_layer_norm")
        if scope.unembedding {
            let name = weights.tensors["embed_out.weight"] != nil ? "embed_out.weight" : "lm_head.weight"
            unembedding = Linear(weight: try weights.floats(name, shape: [vocab, d]), bias: nil, outFeatures: vocab,
                                 inFeatures: d)
        } else {
            unembedding = nil
        }
        rotary = RotaryEmbedding(rotaryDims: config.rotaryDims, base: config.rotaryEmbBase,
                                 positions: config.maxPositionEmbeddings)
    }

    func embed(_ ids: [Int32], into out: UnsafeMutablePointer<Float>) throws {
        try embedding.lookup(ids, into: out)
    }

    func block(
        _ index: Int, residual x: UnsafeMutablePointer<Float>, batch: Int, seqLen: Int, hooks: BlockHooks,
        stopAfter: HookSite?
    ) throws {
        let layer = layers[index]
        let (d, rows) = (config.hiddenSize, batch * seqLen)
        let eps = Float(config.layerNormEps)
        try hooks.visit(HookPoint(layer: index, site: .residPre), x)
        if stopAfter == .residPre { return }

        let normed = UnsafeMutablePointer<Float>.allocate(capacity: rows * d)
        let attnOut = UnsafeMutablePointer<Float>.allocate(capacity: rows * d)
        defer { normed.deallocate(); attnOut.deallocate() }
        // With a parallel residual the MLP reads the block input, so mlp_out needs no attention.
        let needsAttention = !(stopAfter == .mlpOut && config.useParallelResidual
            && !hooks.wants(HookPoint(layer: index, site: .attnOut)))
        if needsAttention {
            Norms.layerNorm(x, rows: rows, width: d, weight: layer.inputNorm.weight, bias: layer.inputNorm.bias,
                            eps: eps, into: normed)
            try attention(layer, normed, batch: batch, seqLen: seqLen, into: attnOut)
            try hooks.visit(HookPoint(layer: index, site: .attnOut), attnOut)
            if stopAfter == .attnOut { return }
            if !config.useParallelResidual { BLAS.saxpy(count: rows * d, alpha: 1, x: attnOut, y: x) }
        }
        let mlpOut = UnsafeMutablePointer<Float>.allocate(capacity: rows * d)
        defer { mlpOut.deallocate() }
        Norms.layerNorm(x, rows: rows, width: d, weight: layer.postAttentionNorm.weight,
                        bias: layer.postAttentionNorm.bias, eps: eps, into: normed)
        mlp(layer, normed, rows: rows, into: mlpOut)
        try hooks.visit(HookPoint(layer: index, site: .mlpOut), mlpOut)
        if stopAfter == .mlpOut { return }
        if config.useParallelResidual { BLAS.saxpy(count: rows * d, alpha: 1, x: attnOut, y: x) }
        BLAS.saxpy(count: rows * d, alpha: 1, x: mlpOut, y: x)
        try hooks.visit(HookPoint(layer: index, site: .residPost), x)
    }

    private func attention(
        _ layer: Layer, _ normed: UnsafePointer<Float>, batch: Int, seqLen: Int, into out: UnsafeMutablePointer<Float>
    ) throws {
        let (d, rows, headDim, heads) = (config.hiddenSize, batch * seqLen, config.headDim, config.numAttentionHeads)
        let qkv = UnsafeMutablePointer<Float>.allocate(capacity: rows * 3 * d)
        let context = UnsafeMutablePointer<Float>.allocate(capacity: rows * d)
        defer { qkv.deallocate(); context.deallocate() }
        layer.queryKeyValue.apply(normed, rows: rows, into: qkv)
        for part in 0..<2 {  // queries, then keys
            rotary.apply(qkv, batch: batch, seqLen: seqLen, rowStride: 3 * d, heads: heads) { 3 * headDim * $0 + part * headDim }
        }
        let layout = Attention.Layout(
            rowStride: 3 * d, queryOffset: { 3 * headDim * $0 }, keyOffset: { 3 * headDim * $0 + headDim },
            valueOffset: { 3 * headDim * $0 + 2 * headDim })
        Attention.causal(qkv, layout: layout, batch: batch, seqLen: seqLen, heads: heads, headDim: headDim, into: context)
        layer.dense.apply(context, rows: rows, into: out)
    }

    private func mlp(_ layer: Layer, _ normed: UnsafePointer<Float>, rows: Int, into out: UnsafeMutablePointer<Float>) {
        let hidden = UnsafeMutablePointer<Float>.allocate(capacity: rows * config.intermediateSize)
        defer { hidden.deallocate() }
        layer.up.apply(normed, rows: rows, into: hidden)
        Activations.geluErf(hidden, count: rows * config.intermediateSize)
        layer.down.apply(hidden, rows: rows, into: out)
    }

    func head(_ x: UnsafePointer<Float>, rows: Int, into logits: UnsafeMutablePointer<Float>) {
        let d = config.hiddenSize
        let normed = UnsafeMutablePointer<Float>.allocate(capacity: rows * d)
        defer { normed.deallocate() }
        Norms.layerNorm(x, rows: rows, width: d, weight: finalNorm.weight, bias: finalNorm.bias,
                        eps: Float(config.layerNormEps), into: normed)
        unembedding!.apply(normed, rows: rows, into: logits)
    }
}
