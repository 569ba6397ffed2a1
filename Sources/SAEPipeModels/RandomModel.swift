import Foundation
import SAEPipeCore
import SAEPipeFormats

/// Random-weight models with the shapes of real ones, for benchmarks when no weights are around.
public enum RandomModel {
    public enum Shape: String, CaseIterable, Sendable {
        case pythia70m = "pythia-70m"
        case smollm2_135m = "smollm2-135m"

        var config: [String: Any] {
            switch self {
            case .pythia70m:
                return [
                    "architectures": ["GPTNeoXForCausalLM"], "model_type": "gpt_neox", "hidden_size": 512,
                    "num_attention_heads": 8, "num_hidden_layers": 6, "intermediate_size": 2048, "vocab_size": 50304,
                    "max_position_embeddings": 2048, "rotary_pct": 0.25, "rotary_emb_base": 10000,
                    "use_parallel_residual": true, "hidden_act": "gelu", "layer_norm_eps": 1e-5,
                    "tie_word_embeddings": false,
                ]
            case .smollm2_135m:
                return [
                    "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 576,
                    "num_attention_heads": 9, "num_key_value_heads": 3, "num_hidden_layers": 30,
                    "intermediate_size": 1536, "vocab_size": 49152, "max_position_embeddings": 8192,
                    "rope_theta": 100000.0, "rms_norm_eps": 1e-5, "hidden_act": "silu", "tie_word_embeddings": true,
                ]
            }
        }

        /// Every weight tensor of the shape, transformers' names.
        var tensors: [(name: String, shape: [Int])] {
            let c = config
            let (d, ff, vocab, layers) = (c["hidden_size"] as! Int, c["intermediate_size"] as! Int,
                                          c["vocab_size"] as! Int, c["num_hidden_layers"] as! Int)
            switch self {
            case .pythia70m:
                var list: [(String, [Int])] = [("gpt_neox.embed_in.weight", [vocab, d])]
                for i in 0..<layers {
                    let p = "gpt_neox.layers.\(i)"
                    list += [
                        ("\(p).input_layernorm.weight", [d]), ("\(p).input_layernorm.bias", [d]),
                        ("\(p).post_attention_layernorm.weight", [d]), ("\(p).post_attention_layernorm.bias", [d]),
                        ("\(p).attention.query_key_value.weight", [3 * d, d]), ("\(p).attention.query_key_value.bias", [3 * d]),
                        ("\(p).attention.dense.weight", [d, d]), ("\(p).attention.dense.bias", [d]),
                        ("\(p).mlp.dense_h_to_4h.weight", [ff, d]), ("\(p).mlp.dense_h_to_4h.bias", [ff]),
                        ("\(p).mlp.dense_4h_to_h.weight", [d, ff]), ("\(p).mlp.dense_4h_to_h.bias", [d]),
                    ]
                }
                return list + [("gpt_neox.final_layer_norm.weight", [d]), ("gpt_neox.final_layer_norm.bias", [d]),
                               ("embed_out.weight", [vocab, d])]
            case .smollm2_135m:
                let kv = (c["num_key_value_heads"] as! Int) * (d / (c["num_attention_heads"] as! Int))
                var list: [(String, [Int])] = [("model.embed_tokens.weight", [vocab, d])]
                for i in 0..<layers {
                    let p = "model.layers.\(i)"
                    list += [
                        ("\(p).input_layernorm.weight", [d]), ("\(p).post_attention_layernorm.weight", [d]),
                        ("\(p).self_attn.q_proj.weight", [d, d]), ("\(p).self_attn.k_proj.weight", [kv, d]),
                        ("\(p).self_attn.v_proj.weight", [kv, d]), ("\(p).self_attn.o_proj.weight", [d, d]),
                        ("\(p).mlp.gate_proj.weight", [ff, d]), ("\(p).mlp.up_proj.weight", [ff, d]),
                        ("\(p).mlp.down_proj.weight", [d, ff]),
                    ]
                }
                return list + [("model.norm.weight", [d])]
            }
        }
    }

    /// Writes `config.json` and `model.safetensors` with seeded N(0, 0.02)-like weights
    /// (norm weights 1, biases 0) into `directory`.
    public static func write(_ shape: Shape, to directory: String, seed: UInt64 = 0) throws {
        var generator = SplitMix64(seed: seed)
        var writer = SafetensorsWriter()
        for (name, dims) in shape.tensors {
            let count = dims.reduce(1, *)
            let isNorm = name.contains("norm") || name.contains("layernorm")
            let values: [Float]
            if isNorm && name.hasSuffix(".weight") {
                values = [Float](repeating: 1, count: count)
            } else if name.hasSuffix(".bias") {
                values = [Float](repeating: 0, count: count)
            } else {
                // Uniform with the standard deviation of N(0, 0.02).
                values = (0..<count).map { _ in Float((generator.nextUnit() - 0.5) * 0.0693) }
            }
            writer.add(name, float32: values, shape: dims)
        }
        try FileSystem.createDirectory(directory)
        let config = try JSONSerialization.data(withJSONObject: shape.config, options: [.sortedKeys, .prettyPrinted])
        try FileSystem.writeAtomically(config, to: "\(directory)/config.json")
        try writer.write(to: "\(directory)/model.safetensors")
    }
}
