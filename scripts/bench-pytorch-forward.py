"""PyTorch's side of `saepipe bench forward`: the same shapes (random weights, 16×128
tokens, 2 threads, best and median of 5 after a warm-up) with transformers, for a
side-by-side comparison on one machine. Needs `pip install torch transformers`."""
import time, torch
from transformers import GPTNeoXConfig, GPTNeoXForCausalLM, LlamaConfig, LlamaForCausalLM
torch.set_num_threads(2); torch.manual_seed(0)
def bench(fn, repeats=5):
    fn(); best = 1e9; times=[]
    for _ in range(repeats):
        t = time.perf_counter(); fn(); times.append(time.perf_counter() - t)
    times.sort(); return 2048 / times[0], 2048 / times[len(times)//2]
ids = torch.randint(0, 49152, (16, 128))
neox = GPTNeoXForCausalLM(GPTNeoXConfig(hidden_size=512, num_attention_heads=8, num_hidden_layers=6, intermediate_size=2048,
    vocab_size=50304, rotary_pct=0.25, use_parallel_residual=True, hidden_act="gelu")).eval()
llama = LlamaForCausalLM(LlamaConfig(hidden_size=576, num_attention_heads=9, num_key_value_heads=3, num_hidden_layers=30,
    intermediate_size=1536, vocab_size=49152, rope_theta=1e5, tie_word_embeddings=True)).eval()
with torch.no_grad():
    full = bench(lambda: neox(ids).logits)
    neox.gpt_neox.layers = neox.gpt_neox.layers[:4]
    l3 = bench(lambda: neox.gpt_neox(ids))
    llama.model.layers = llama.model.layers[:4]
    s3 = bench(lambda: llama.model(ids))
print("pytorch pythia-70m to layer 3: %.0f best, %.0f median tok/s" % l3)
print("pytorch pythia-70m full + logits: %.0f best, %.0f median tok/s" % full)
print("pytorch smollm2-135m to layer 3: %.0f best, %.0f median tok/s" % s3)
