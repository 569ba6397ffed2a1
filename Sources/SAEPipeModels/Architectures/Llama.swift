import Foundation
import SAEPipeCore
import SAEPipeFormats
import SAEPipeLinalg

/// Llama-family decoders (SmolLM2) as transformers' `LlamaForCausalLM`.
public struct LlamaConfiguration: Decodable, Sendable {
    public var hiddenSize: Int
    public var intermediateSize: Int
    public var numAttentionHeads: Int
    public var numKeyValueHeads: Int
    public var numHiddenLayers: Int
    public var headDim: Int
    public var vocabSize: Int
    public var maxPositionEmbeddings: Int
    public var rmsNormEps: Double
    public var ropeTheta: Double
    public var tieWordEmbeddings: Bool
    public var hiddenAct: String

    enum CodingKeys: String, CodingKey {
        case hiddenSize = "hidden_size", intermediateSize = "intermediate_size"
        case numAttentionHeads = "num_attention_heads", numKeyValueHeads = "num_key_value_heads"
        case numHiddenLayers = "num_hidden_layers", headDim = "head_dim", vocabSize = "vocab_size"
        case maxPositionEmbeddings = "max_position_embeddings", rmsNormEps = "rms_norm_eps"
        case ropeTheta = "rope_theta", tieWordEmbeddings = "tie_word_embeddings", hiddenAct = "hidden_act"
        case ropeParameters = "rope_parameters", ropeScaling = "rope_scaling", attentionBias = "attention_bias"
        case mlpBias = "mlp_bias"
    }

    struct RopeParameters: Decodable {
        var ropeTheta: Double?
        var ropeType: String?
        enum CodingKeys: String, CodingKey { case ropeTheta = "rope_theta", ropeType = "rope_type" }
    }

    public init(
        hiddenSize: Int, intermediateSize: Int, numAttentionHeads: Int, numKeyValueHeads: Int, numHiddenLayers: Int,
        headDim: Int? = nil, vocabSize: Int, maxPositionEmbeddings: Int, rmsNormEps: Double, ropeTheta: Double,
        tieWordEmbeddings: Bool
    ) throws {
        self.hiddenSize = hiddenSize
        self.intermediateSize = intermediateSize
        self.numAttentionHeads = numAttentionHeads
        self.numKeyValueHeads = numKeyValueHeads
        self.numHiddenLayers = numHiddenLayers
        self.headDim = headDim ?? (numAttentionHeads > 0 ? hiddenSize / numAttentionHeads : 0)
        self.vocabSize = vocabSize
        self.maxPositionEmbeddings = maxPositionEmbeddings
        self.rmsNormEps = rmsNormEps
        self.ropeTheta = ropeTheta
        self.tieWordEmbeddings = tieWordEmbeddings
        self.hiddenAct = "silu"
        try validate()
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        hiddenSize = try c.decode(Int.self, forKey: .hiddenSize)
        intermediateSize = try c.decode(Int.self, forKey: .intermediateSize)
        numAttentionHeads = try c.decode(Int.self, forKey: .numAttentionHeads)
        numKeyValueHeads = try c.decodeIfPresent(Int.self, forKey: .numKeyValueHeads) ?? numAttentionHeads
        numHiddenLayers = try c.decode(Int.self, forKey: .numHiddenLayers)
        headDim = try c.decodeIfPresent(Int.self, forKey: .headDim)
            ?? (numAttentionHeads > 0 ? hiddenSize / numAttentionHeads : 0)
        vocabSize = try c.decode(Int.self, forKey: .vocabSize)
        maxPositionEmbeddings = try c.decodeIfPresent(Int.self, forKey: .maxPositionEmbeddings) ?? 2048
        rmsNormEps = try c.decodeIfPresent(Double.self, forKey: .rmsNormEps) ?? 1e-6
        tieWordEmbeddings = try c.decodeIfPresent(Bool.self, forKey: .tieWordEmbeddings) ?? false
        hiddenAct = try c.decodeIfPresent(String.self, forKey: .hiddenAct) ?? "silu"
        let rope = try c.decodeIfPresent(RopeParameters.self, forKey: .ropeParameters)
        ropeTheta = try c.decodeIfPresent(Double.self, forKey: .ropeTheta) ?? rope?.ropeTheta ?? 10000
        let scaling = try c.decodeIfPresent(RopeParameters.self, forKey: .ropeScaling)
        for type in [rope?.ropeType, scaling?.ropeType].compactMap({ $0 }) where type != "default" {
            throw SAEPipeError.input("rope type `\(type)` is not supported", key: "rope_parameters.rope_type",
                                     hint: "saepipe implements the default rotary embedding")
        }
        for (key, present) in [("attention_bias", try c.decodeIfPresent(Bool.self, forKey: .attentionBias)),
                               ("mlp_bias", try c.decodeIfPresent(Bool.self, forKey: .mlpBias))] where present == true {
            throw SAEPipeError.input("`\(key): true` is not supported", key: key,
                                     hint: "saepipe implements Llama without projection biases")
        }
        try validate()
    }

    func validate() throws {
        let checks = ConfigChecks(architecture: "Llama")
        try checks.sizes(hidden: hiddenSize, intermediate: intermediateSize, layers: numHiddenLayers, heads: numAttentionHeads,
                         vocabulary: vocabSize, positions: maxPositionEmbeddings)
        try checks.count(numKeyValueHeads, "num_key_value_heads", upTo: ConfigChecks.maximumHeads)
        try checks.count(headDim, "head_dim", upTo: ConfigChecks.maximumWidth)
        try checks.positive(rmsNormEps, "rms_norm_eps", below: 1)
        try checks.positive(ropeTheta, "rope_theta")
        guard hiddenAct == "silu" else {
            throw SAEPipeError.input("hidden_act `\(hiddenAct)` is not supported for Llama", key: "hidden_act",
                                     hint: "saepipe implements SwiGLU with silu")
        }
        guard numAttentionHeads > 0, numKeyValueHeads > 0, numAttentionHeads % numKeyValueHeads == 0, headDim % 2 == 0
        else {
            throw SAEPipeError.input(
                "\(numAttentionHeads) attention heads cannot share \(numKeyValueHeads) key/value heads of size \(headDim)",
                key: "num_key_value_heads")
        }
    }

    /// The configuration llama.cpp writes into a GGUF file's `llama.*` metadata.
    public init(gguf: GGUFFile) throws {
        func value(_ key: String) throws -> GGUFValue {
            guard let value = gguf.metadata["llama.\(key)"] else {
                throw SAEPipeError.input("GGUF metadata lacks llama.\(key)", file: gguf.path,
                                         hint: "re-convert the model with llama.cpp's convert_hf_to_gguf.py")
            }
            return value
        }
        func integer(_ key: String) throws -> Int {
            guard let number = try value(key).int else {
                throw SAEPipeError.input("GGUF metadata llama.\(key) is not an integer", file: gguf.path)
            }
            return number
        }
        let heads = try integer("attention.head_count")
        let dModel = try integer("embedding_length")
        let vocab = try gguf.metadata["llama.vocab_size"]?.int
            ?? gguf.metadata["tokenizer.ggml.tokens"]?.array?.count ?? gguf.tensor("token_embd.weight").shape.first ?? 0
        try self.init(
            hiddenSize: dModel, intermediateSize: try integer("feed_forward_length"), numAttentionHeads: heads,
            numKeyValueHeads: gguf.metadata["llama.attention.head_count_kv"]?.int ?? heads,
            numHiddenLayers: try integer("block_count"),
            headDim: gguf.metadata["llama.attention.key_length"]?.int, vocabSize: vocab,
            maxPositionEmbeddings: gguf.metadata["llama.context_length"]?.int ?? 2048,
            rmsNormEps: try value("attention.layer_norm_rms_epsilon").double ?? 1e-5,
            ropeTheta: gguf.metadata["llama.rope.freq_base"]?.double ?? 10000,
            tieWordEmbeddings: gguf.tensors["output.weight"] == nil)
        if let rotaryDims = gguf.metadata["llama.rope.dimension_count"]?.int, rotaryDims != headDim {
            throw SAEPipeError.input("partial rotary (\(rotaryDims) of \(headDim) dims) is not supported for Llama",
                                     file: gguf.path)
        }
    }
}

/// Tensor names: transformers' checkpoint layout or llama.cpp's GGUF layout.
struct LlamaTensorNames: Sendable {
    var embedding: String
    var unembedding: String
    var finalNorm: String
    var layer: @Sendable (Int, LlamaTensorNames.Part) -> String
    /// llama.cpp stores Q/K rows permuted for adjacent-pair rotary.
    var permutedQueryKey: Bool

    enum Part { case inputNorm, postAttentionNorm, query, key, value, output, gate, up, down }

    static let transformers = LlamaTensorNames(
        embedding: "model.embed_tokens.weight", unembedding: "lm_head.weight", finalNorm: "model.norm.weight",
        layer: { i, part in
            let names: [Part: String] = [
                .inputNorm: "input_layernorm", .postAttentionNorm: "post_attention_layernorm",
                .query: "self_attn.q_proj", .key: "self_attn.k_proj", .value: "self_attn.v_proj",
                .output: "self_attn.o_proj", .gate: "mlp.gate_proj", .up: "mlp.up_proj", .down: "mlp.down_proj",
            ]
            return "model.layers.\(i).\(names[part]!).weight"
        }, permutedQueryKey: false)

    static let llamaCpp = LlamaTensorNames(
        embedding: "token_embd.weight", unembedding: "output.weight", finalNorm: "output_norm.weight",
        layer: { i, part in
            let names: [Part: String] = [
                .inputNorm: "attn_norm", .postAttentionNorm: "ffn_norm", .query: "attn_q", .key: "attn_k",
                .value: "attn_v", .output: "attn_output", .gate: "ffn_gate", .up: "ffn_up", .down: "ffn_down",
            ]
            return "blk.\(i).\(names[part]!).weight"
        }, permutedQueryKey: true)
}

struct Llama: DecoderArchitecture {
    struct Layer: Sendable {
        var inputNorm: [Float]
        var postAttentionNorm: [Float]
        /// Rows [q (heads·headDim) | k (kvHeads·headDim) | v (kvHeads·headDim)]: one GEMM for all three.
        var queryKeyValue: Linear
        var output: Linear
        /// Rows [gate (ff) | up (ff)].
        var gateUp: Linear
        var down: Linear
    }

    let config: LlamaConfiguration
    let embedding: EmbeddingTable
    let layers: [Layer]
    let finalNorm: [Float]
    let unembedding: Linear?
    let rotary: RotaryEmbedding

    var loadedLayers: Int { layers.count }

    var dimensions: ModelDimensions {
        ModelDimensions(
            architecture: "LlamaForCausalLM", dModel: config.hiddenSize, layerCount: config.numHiddenLayers,
            heads: config.numAttentionHeads, kvHeads: config.numKeyValueHeads, headDim: config.headDim,
            intermediate: config.intermediateSize, vocabSize: config.vocabSize,
            maxPositions: config.maxPositionEmbeddings, tiedEmbeddings: config.tieWordEmbeddings,
            parallelResidual: false)
    }

    init(config: LlamaConfiguration, weights: some WeightSource, names: LlamaTensorNames, scope: LoadScope) throws {
        self.config = config
        let (d, ff, vocab, hd) = (config.hiddenSize, config.intermediateSize, config.vocabSize, config.headDim)
        let (heads, kvHeads) = (config.numAttentionHeads, config.numKeyValueHeads)
        embedding = try EmbeddingTable(weights.view(names.embedding, shape: [vocab, d]), vocabSize: vocab, width: d)
        layers = try (0..<scope.layerCount(of: config.numHiddenLayers)).map { i in
            func matrix(_ part: LlamaTensorNames.Part, _ rows: Int, _ cols: Int) throws -> [Float] {
                try weights.floats(names.layer(i, part), shape: [rows, cols])
            }
            var query = try matrix(.query, heads * hd, d)
            var key = try matrix(.key, kvHeads * hd, d)
            if names.permutedQueryKey {
                query = Llama.undoRotaryPermutation(query, heads: heads, headDim: hd, columns: d)
                key = Llama.undoRotaryPermutation(key, heads: kvHeads, headDim: hd, columns: d)
            }
            let qkvRows = (heads + 2 * kvHeads) * hd
            return Layer(
                inputNorm: try weights.floats(names.layer(i, .inputNorm), shape: [d]),
                postAttentionNorm: try weights.floats(names.layer(i, .postAttentionNorm), shape: [d]),
                queryKeyValue: Linear(weight: query + key + (try matrix(.value, kvHeads * hd, d)), bias: nil,
                                      outFeatures: qkvRows, inFeatures: d),
                output: Linear(weight: try matrix(.output, d, heads * hd), bias: nil, outFeatures: d,
                               inFeatures: heads * hd),
                gateUp: Linear(weight: try matrix(.gate, ff, d) + (try matrix(.up, ff, d)), bias: nil,
                               outFeatures: 2 * ff, inFeatures: d),
                down: Linear(weight: try matrix(.down, d, ff), bias: nil, outFeatures: d, inFeatures: ff))
        }
        finalNorm = try weights.floats(names.finalNorm, shape: [d])
        if !scope.unembedding {
            unembedding = nil
        } else if config.tieWordEmbeddings {
            unembedding = try embedding.asLinear()
        } else {
            unembedding = Linear(weight: try weights.floats(names.unembedding, shape: [vocab, d]), bias: nil,
                                 outFeatures: vocab, inFeatures: d)
        }
        rotary = RotaryEmbedding(rotaryDims: hd, base: config.ropeTheta, positions: config.maxPositionEmbeddings)
    }

    /// llama.cpp reorders each head's rows from [first half | second half] to interleaved
    /// pairs (row 2i ← i, row 2i+1 ← i + headDim/2); this puts them back.
    static func undoRotaryPermutation(_ weight: [Float], heads: Int, headDim: Int, columns: Int) -> [Float] {
        var restored = weight
        let half = headDim / 2
        for head in 0..<heads {
            for i in 0..<half {
                for pair in 0..<2 {
                    let source = (head * headDim + 2 * i + pair) * columns
                    let target = (head * headDim + pair * half + i) * columns
                    for column in 0..<columns { restored[target + column] = weight[source + column] }
                }
            }
        }
        return restored
    }

    func embed(_ ids: [Int32], into out: UnsafeMutablePointer<Float>) throws {
        try embedding.lookup(ids, into: out)
    }

    func block(
        _ index: Int, residual x: UnsafeMutablePointer<Float>, batch: Int, seqLen: Int, hooks: BlockHooks,
        stopAfter: HookSite?
    ) throws {
        let layer = layers[index]
        let (d, rows, eps) = (config.hiddenSize, batch * seqLen, Float(config.rmsNormEps))
        try hooks.visit(HookPoint(layer: index, site: .residPre), x)
        if stopAfter == .residPre { return }

        let normed = UnsafeMutablePointer<Float>.allocate(capacity: rows * d)
        let branch = UnsafeMutablePointer<Float>.allocate(capacity: rows * d)
        defer { normed.deallocate(); branch.deallocate() }
        Norms.rmsNorm(x, rows: rows, width: d, weight: layer.inputNorm, eps: eps, into: normed)
        attention(layer, normed, batch: batch, seqLen: seqLen, into: branch)
        try hooks.visit(HookPoint(layer: index, site: .attnOut), branch)
        if stopAfter == .attnOut { return }
        BLAS.saxpy(count: rows * d, alpha: 1, x: branch, y: x)

        Norms.rmsNorm(x, rows: rows, width: d, weight: layer.postAttentionNorm, eps: eps, into: normed)
        let ff = config.intermediateSize
        let gateUp = UnsafeMutablePointer<Float>.allocate(capacity: rows * 2 * ff)
        defer { gateUp.deallocate() }
        layer.gateUp.apply(normed, rows: rows, into: gateUp)
        Activations.swiGLU(gateUp, rows: rows, width: ff)
        layer.down.apply(gateUp, rows: rows, inputStride: 2 * ff, into: branch)
        try hooks.visit(HookPoint(layer: index, site: .mlpOut), branch)
        if stopAfter == .mlpOut { return }
        BLAS.saxpy(count: rows * d, alpha: 1, x: branch, y: x)
        try hooks.visit(HookPoint(layer: index, site: .residPost), x)
    }

    private func attention(
        _ layer: Layer, _ normed: UnsafePointer<Float>, batch: Int, seqLen: Int, into out: UnsafeMutablePointer<Float>
    ) {
        let (hd, heads, kvHeads) = (config.headDim, config.numAttentionHeads, config.numKeyValueHeads)
        let rows = batch * seqLen
        let stride = (heads + 2 * kvHeads) * hd
        let qkv = UnsafeMutablePointer<Float>.allocate(capacity: rows * stride)
        let context = UnsafeMutablePointer<Float>.allocate(capacity: rows * heads * hd)
        defer { qkv.deallocate(); context.deallocate() }
        layer.queryKeyValue.apply(normed, rows: rows, into: qkv)
        rotary.apply(qkv, batch: batch, seqLen: seqLen, rowStride: stride, heads: heads) { hd * $0 }
        rotary.apply(qkv, batch: batch, seqLen: seqLen, rowStride: stride, heads: kvHeads) { hd * (heads + $0) }
        let group = heads / kvHeads
        let layout = Attention.Layout(
            rowStride: stride, queryOffset: { hd * $0 }, keyOffset: { hd * (heads + $0 / group) },
            valueOffset: { hd * (heads + kvHeads + $0 / group) })
        Attention.causal(qkv, layout: layout, batch: batch, seqLen: seqLen, heads: heads, headDim: hd, into: context)
        layer.output.apply(context, rows: rows, into: out)
    }

    func head(_ x: UnsafePointer<Float>, rows: Int, into logits: UnsafeMutablePointer<Float>) {
        let d = config.hiddenSize
        let normed = UnsafeMutablePointer<Float>.allocate(capacity: rows * d)
        defer { normed.deallocate() }
        Norms.rmsNorm(x, rows: rows, width: d, weight: finalNorm, eps: Float(config.rmsNormEps), into: normed)
        unembedding!.apply(normed, rows: rows, into: logits)
    }
}
