"""Fixture makers for the reliability catalogue: copies of a model directory with one fault each (stdlib only)."""
import json, os, shutil, struct

def read_st(path):
    b = open(path, 'rb').read()
    n = struct.unpack('<Q', b[:8])[0]
    return json.loads(b[8:8 + n]), bytearray(b[8 + n:])

def write_st(path, header, data, raw_header=None):
    hb = raw_header if raw_header is not None else json.dumps(header, separators=(',', ':')).encode()
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(hb))); f.write(hb); f.write(data)

def edit_header(model, fn):
    p = os.path.join(model, 'model.safetensors')
    h, d = read_st(p); fn(h); write_st(p, h, d)

def raw_header(model, raw):
    p = os.path.join(model, 'model.safetensors'); _, d = read_st(p); write_st(p, None, d, raw)

BITS = {'BF16': {'nan': 0x7FC0, 'inf': 0x7F80, '-inf': 0xFF80, 'big': 0x7F7F},
        'F16': {'nan': 0x7E00, 'inf': 0x7C00, '-inf': 0xFC00, 'big': 0x7BFF},
        'F32': {'nan': 0x7FC00000, 'inf': 0x7F800000, '-inf': 0xFF800000, 'big': 0x7F7FFFFF}}

def poke(model, tensor, kind, index=0, count=1):
    """Writes a NaN/Inf (or the largest finite value: 'big') into `count` elements of a tensor from `index`."""
    p = os.path.join(model, 'model.safetensors'); h, d = read_st(p); t = h[tensor]
    size = 4 if t['dtype'] == 'F32' else 2
    for i in range(index, index + count):
        off = t['data_offsets'][0] + i * size
        d[off:off + size] = struct.pack('<I' if size == 4 else '<H', BITS[t['dtype']][kind])
    write_st(p, h, d)

def relabel(model, dtype):
    edit_header(model, lambda h: [v.__setitem__('dtype', dtype) for k, v in h.items() if k != '__metadata__'])

def bf16_to_f16(model):
    """Converts every BF16 tensor to real F16 (round to nearest) and labels it F16."""
    import array
    p = os.path.join(model, 'model.safetensors'); h, d = read_st(p)
    out = bytearray(); off = 0
    for k in sorted((k for k in h if k != '__metadata__'), key=lambda k: h[k]['data_offsets'][0]):
        t = h[k]; a, b = t['data_offsets']; src = array.array('H'); src.frombytes(bytes(d[a:b]))
        dst = array.array('H', (struct.unpack('<H', struct.pack('<e', struct.unpack('<f', struct.pack('<I', x << 16))[0]))[0] for x in src))
        t['dtype'] = 'F16'; t['data_offsets'] = [off, off + len(src) * 2]; out += dst.tobytes(); off += len(src) * 2
    write_st(p, h, out)

def config(model, **edits):
    p = os.path.join(model, 'config.json'); c = json.load(open(p))
    for k, v in edits.items():
        if v is DELETE: c.pop(k, None)
        else: c[k] = v
        if k == 'rope_theta' and isinstance(c.get('rope_parameters'), dict) and v is not DELETE: c['rope_parameters']['rope_theta'] = v
    json.dump(c, open(p, 'w'), indent=1)

DELETE = object()

def write(path, data):
    os.makedirs(os.path.dirname(path) or '.', exist_ok=True)
    with open(path, 'wb' if isinstance(data, (bytes, bytearray)) else 'w') as f: f.write(data)

def shard(model, weight_map_edit):
    """Turns the single file into an index + one shard, then lets the case edit the weight map."""
    src = os.path.join(model, 'model.safetensors'); dst = os.path.join(model, 'model-00001-of-00001.safetensors')
    os.rename(src, dst); h, _ = read_st(dst)
    wm = {k: 'model-00001-of-00001.safetensors' for k in h if k != '__metadata__'}
    idx = {'metadata': {}, 'weight_map': wm}; weight_map_edit(idx)
    json.dump(idx, open(os.path.join(model, 'model.safetensors.index.json'), 'w'))
