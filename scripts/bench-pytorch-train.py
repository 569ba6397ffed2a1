"""PyTorch's side of `saepipe bench train`: a ReLU + L1 SAE training step (d 512 → F 4096,
batch 4096, Adam, decoder rows renormalized after each step, gradient clipping) on the same
kind of synthetic activations, 2 threads, for a side-by-side figure on one machine.
Needs `pip install torch`."""
import argparse, time, torch

parser = argparse.ArgumentParser()
parser.add_argument("--d", type=int, default=512)
parser.add_argument("--f", type=int, default=4096)
parser.add_argument("--batch", type=int, default=4096)
parser.add_argument("--steps", type=int, default=20)
parser.add_argument("--warmup", type=int, default=30)
parser.add_argument("--l1", type=float, default=5.0)
args = parser.parse_args()
torch.set_num_threads(2)
torch.manual_seed(0)
d, F, B = args.d, args.f, args.batch
atoms = torch.rand(F, d) * 2 - 1
rows = B * 8
codes = torch.zeros(rows, F)
index = torch.randint(0, F, (rows, 20))
codes.scatter_(1, index, torch.rand(rows, 20) * 2)
data = codes @ atoms + (torch.rand(rows, d) - 0.5) * 0.1
data *= (d ** 0.5) / data.norm(dim=1).mean()

W_dec = torch.randn(F, d)
W_dec = (W_dec / W_dec.norm(dim=1, keepdim=True)).requires_grad_()
W_enc = W_dec.detach().t().clone().requires_grad_()
b_enc = torch.zeros(F, requires_grad=True)
b_dec = torch.zeros(d, requires_grad=True)
params = [W_enc, b_enc, W_dec, b_dec]
opt = torch.optim.Adam(params, lr=4e-4)
l0s, times = [], []
for step in range(args.warmup + args.steps):
    x = data[torch.randint(0, rows, (B,))]
    start = time.perf_counter()
    f = torch.relu((x - b_dec) @ W_enc + b_enc)
    x_hat = f @ W_dec + b_dec
    loss = (x_hat - x).pow(2).sum(1).mean() + args.l1 * f.sum(1).mean()
    opt.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(params, 1.0)
    opt.step()
    with torch.no_grad():
        W_dec /= W_dec.norm(dim=1, keepdim=True)
    if step >= args.warmup:
        times.append(time.perf_counter() - start)
        l0s.append((f > 0).float().sum(1).mean().item())
print("pytorch sae train: %.0f tok/s, L0 %.1f of %d (%.2f%%)" % (B * len(times) / sum(times), sum(l0s) / len(l0s), F, 100 * sum(l0s) / len(l0s) / F))
