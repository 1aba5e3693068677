"""On the GPU machine: the ceilings the benchmark is judged against, measured now: device-to-device copy bandwidth
(bytes read + written per second, a 4 GiB copy) and the bf16 matrix rate (8192³ product), each the mean of 10 timed
runs after 3 warm-ups. Prints one JSON object."""
import json, torch

def timed(f, n=10):
    for _ in range(3): f()
    s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    torch.cuda.synchronize(); s.record()
    for _ in range(n): f()
    e.record(); torch.cuda.synchronize()
    return s.elapsed_time(e) / 1000 / n

a = torch.empty(1 << 31, dtype=torch.bfloat16, device="cuda"); b = torch.empty_like(a)
copy = timed(lambda: b.copy_(a))
x = torch.randn(8192, 8192, dtype=torch.bfloat16, device="cuda"); y = torch.randn_like(x)
mm = timed(lambda: x @ y)
print(json.dumps({"copy_tb_per_s": round(2 * a.numel() * 2 / copy / 1e12, 3), "bf16_tflop_per_s": round(2 * 8192**3 / mm / 1e12, 1),
                  "gpu": torch.cuda.get_device_name()}))
