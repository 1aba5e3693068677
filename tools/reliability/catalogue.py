#!/usr/bin/env python3
"""
The reliability catalogue (issue 13): every case runs the palu CLI on a fresh copy of a model with one fault and
classifies the outcome. Usage:
  catalogue.py PALU_CLI_DLL OUT.tsv [--model DIR] [--only ID,ID]
Verdicts: clear-error (exit 1, one 'error:' line naming the file/option), ok (success where success is right, its
check passed), cancelled (exit 130, nothing left), and the bad ones: silent-wrong (success where it should fail, or a
check of the output failed), data-loss (an input file changed), stack-trace, unclear-error (no file/option named, or
another exit code), refused (an error where success is right), left-files (staging/temporary files left), hang.
Every input under the case's folder is hashed before and after each run (outputs go to out*, the cache to cache/).
"""
import hashlib, json, os, re, shutil, signal, subprocess, sys, tempfile, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fixtures import *

DLL = os.path.abspath(sys.argv[1]); OUT = sys.argv[2]
MODEL = sys.argv[sys.argv.index('--model') + 1] if '--model' in sys.argv else '/work/shared/models/tiny'
ONLY = set(sys.argv[sys.argv.index('--only') + 1].split(',')) if '--only' in sys.argv else None
DATA = '/work/shared/data'
ROOT = tempfile.mkdtemp(prefix='palu-catalogue-')
ENV = dict(os.environ, PALU_DATA=DATA, PALU_CACHE_DIR='')

PPL = ['--seq-len', '128', '--max-windows', '2']
CAL = ['--calib-samples', '4', '--calib-seq-len', '128']
FIS = ['--samples', '2', '--seq-len', '64']
GEN = ['--max-tokens', '8', '--no-warmup']
CASES = []

def case(cid, kind, expect, desc, args, setup=None, check=None, runner=None):
    CASES.append(dict(id=cid, kind=kind, expect=expect, desc=desc, args=args, setup=setup, check=check, runner=runner))

# ---------------------------------------------------------------- helpers for checks
def no_nan_json(r, w):
    try: j = json.loads(r['stdout'])
    except Exception as e: return f'stdout is not one JSON object ({e})'
    s = json.dumps(j)
    return 'NaN in the JSON' if 'NaN' in s or 'Infinity' in s else None

def nonempty_completion(r, w):
    return None if r['stdout'].strip() else 'empty completion'

def no_staging(r, w):
    left = [e for e in os.listdir(w) if '.staging-' in e or '.old-' in e or '.tmp-' in e]
    return f'left behind: {left}' if left else None

def out_loads(r, w):
    p = subprocess.run(['dotnet', DLL, 'inspect', os.path.join(w, 'out'), '--json'], capture_output=True, text=True, env=ENV, timeout=120)
    return None if p.returncode == 0 else 'the output does not load: ' + p.stderr.strip()[:200]

def all_of(*checks):
    def f(r, w):
        for c in checks:
            if (m := c(r, w)): return m
    return f

# ---------------------------------------------------------------- the cases
def define():
    M, W = '{M}', '{W}'
    # 1. output overlaps an input (data loss)
    for i, (out, extra, d) in enumerate([
        ('{M}', ['--overwrite'], '--out is the model, --overwrite'),
        ('{M}', [], '--out is the model, no --overwrite'),
        ('{W}/mlink', ['--overwrite'], '--out is a symlink to the model'),
        ('{W}/sub/../m', ['--overwrite'], '--out reaches the model through ../'),
        ('{M}/out', [], '--out inside the model directory'),
        ('{W}', ['--overwrite'], '--out is the parent of the model'),
        ('{M}/', ['--overwrite'], '--out is the model with a trailing slash'),
        ('{W}/mlink/', ['--overwrite'], '--out is a symlink to the model, trailing slash'),
    ]):
        case(f'out-{i+1}', 'output overlaps input', 'error', d, ['compress', M, '--out', out, '--decomposition', 'svd', *extra],
             setup=lambda w: (os.symlink(os.path.join(w, 'm'), os.path.join(w, 'mlink')), os.makedirs(os.path.join(w, 'sub'))))
    case('out-9', 'output overlaps input', 'error', 'fisher --out is the model\'s model.safetensors', ['fisher', M, '--out', '{M}/model.safetensors', '--calib', '{C}', *FIS])
    case('out-10', 'output overlaps input', 'error', 'fisher --out is the calibration file', ['fisher', M, '--out', '{C}', '--calib', '{C}', *FIS])
    case('out-11', 'output overlaps input', 'error', 'fisher --out inside the model directory', ['fisher', M, '--out', '{M}/fisher.safetensors', '--calib', '{C}', *FIS])
    case('out-12', 'output overlaps input', 'error', 'fisher --out is the model directory', ['fisher', M, '--out', M, '--calib', '{C}', *FIS])
    case('out-13', 'output overlaps input', 'error', 'compress --out is the calibration file', ['compress', M, '--out', '{C}', *CAL, '--calib', '{C}'])
    case('out-14', 'output overlaps input', 'error', 'suite --out is the model, --overwrite', ['eval', 'suite', M, '--out', M, '--overwrite', '--ppl', '{D}', '--limit', '2', '--max-windows', '1', '--seq-len', '64'])
    case('out-15', 'output overlaps input', 'error', 'zeroshot --samples is the task file', ['eval', 'zeroshot', M, '--task', 'boolq', '--data', '{W}/boolq.jsonl', '--limit', '2', '--samples', '{W}/boolq.jsonl'],
         setup=lambda w: write(os.path.join(w, 'boolq.jsonl'), ''.join(open(f'{DATA}/tasks/boolq/dev.jsonl').readlines()[:3])))
    case('out-16', 'output overlaps input', 'error', 'fisher --cache-dir is the model directory', ['fisher', M, '--out', '{W}/out.fisher', '--calib', '{C}', '--cache-dir', M, *FIS])
    case('out-17', 'output overlaps input', 'error', 'compress --fisher-cache inside the model', ['compress', M, '--out', '{W}/out', '--rank-allocation', 'fisher', '--fisher-samples', '2', '--fisher-seq-len', '64', '--fisher-cache', '{M}/cache', '--calib', '{C}', *CAL])
    # 2. output target unusable
    case('target-1', 'output target', 'error', '--out under /proc (not writable)', ['compress', M, '--out', '/proc/palu-out', '--decomposition', 'svd'])
    case('target-2', 'output target', 'error', '--out is an existing file', ['compress', M, '--out', '{W}/out', '--decomposition', 'svd'], setup=lambda w: write(os.path.join(w, 'out'), 'x'))
    case('target-3', 'output target', 'error', '--out below a file', ['compress', M, '--out', '{W}/outfile/x', '--decomposition', 'svd'], setup=lambda w: write(os.path.join(w, 'outfile'), 'x'))
    case('target-4', 'output target', 'error', '--out non-empty without --overwrite', ['compress', M, '--out', '{W}/out', '--decomposition', 'svd'], setup=lambda w: write(os.path.join(w, 'out', 'keep.txt'), 'x'))
    case('target-5', 'output target', 'ok', '--out an existing empty folder', ['compress', M, '--out', '{W}/out', '--decomposition', 'svd'], setup=lambda w: os.makedirs(os.path.join(w, 'out')), check=out_loads)
    case('target-6', 'output target', 'error', 'fisher --out under /proc', ['fisher', M, '--out', '/proc/palu.fisher', '--calib', '{C}', *FIS])
    case('target-7', 'output target', 'error', 'fisher --out is a directory', ['fisher', M, '--out', '{W}/outdir', '--calib', '{C}', *FIS], setup=lambda w: os.makedirs(os.path.join(w, 'outdir')))
    case('target-8', 'output target', 'error', 'whitened compress to an unwritable --out fails before calibrating', ['compress', M, '--out', '/sys/palu-out', '--calib', '{C}', '--calib-samples', '64', '--calib-seq-len', '512'])
    case('target-9', 'output target', 'ok', '--out deep path that does not exist yet', ['compress', M, '--out', '{W}/out/a/b', '--decomposition', 'svd'])
    case('target-10', 'output target', 'error', 'suite --out under /proc', ['eval', 'suite', M, '--out', '/proc/palu-report', '--ppl', '{D}', '--limit', '2', '--max-windows', '1', '--seq-len', '64'])
    # 3. leftovers of killed runs
    def stale(w, pid='999999', marker=True, name='out'):
        d = os.path.join(w, f'.{name}.staging-{pid}-deadbeef'); os.makedirs(d); write(os.path.join(d, 'model.safetensors'), 'half')
        if marker: write(os.path.join(d, '.palu-staging'), pid)
    case('stale-1', 'killed-run leftovers', 'ok', 'a staging folder of a dead pid is removed', ['compress', M, '--out', '{W}/out', '--decomposition', 'svd'], setup=stale, check=all_of(no_staging, out_loads))
    case('stale-2', 'killed-run leftovers', 'ok', 'a staging folder of a live pid is kept', ['compress', M, '--out', '{W}/out', '--decomposition', 'svd'],
         setup=lambda w: stale(w, pid='1'), check=lambda r, w: None if os.path.isdir(os.path.join(w, '.out.staging-1-deadbeef')) else 'removed a live run\'s staging folder')
    case('stale-3', 'killed-run leftovers', 'ok', 'an unmarked folder with a staging-like name is kept', ['compress', M, '--out', '{W}/out', '--decomposition', 'svd'],
         setup=lambda w: stale(w, marker=False), check=lambda r, w: None if os.path.isdir(os.path.join(w, '.out.staging-999999-deadbeef')) else 'removed a folder that is not ours')
    def old_only(w):
        os.makedirs(os.path.join(w, 'out.old-999999')); write(os.path.join(w, 'out.old-999999', 'config.json'), '{}')
    case('stale-4', 'killed-run leftovers', 'ok', 'killed between the two renames: the previous output (out.old-PID) comes back, then is replaced', ['compress', M, '--out', '{W}/out', '--decomposition', 'svd', '--overwrite'],
         setup=old_only, check=all_of(no_staging, out_loads))
    case('stale-5', 'killed-run leftovers', 'ok', 'fisher: a temporary file of a dead pid is removed', ['fisher', M, '--out', '{W}/out.fisher', '--calib', '{C}', *FIS],
         setup=lambda w: write(os.path.join(w, 'out.fisher.tmp-999999'), 'half'), check=no_staging)
    case('stale-6', 'killed-run leftovers', 'ok', 'kill -9 during compress, then a second run leaves no staging folder', ['compress', M, '--out', '{W}/out', *CAL, '--calib', '{C}', '--overwrite'],
         runner='kill9-then-rerun', check=all_of(no_staging, out_loads))
    # 4. cancellation
    case('cancel-1', 'cancellation', 'cancel', 'SIGINT while calibrating', ['compress', M, '--out', '{W}/out', '--calib', '{C}', '--calib-samples', '256', '--calib-seq-len', '512'], runner='sigint:1.0')
    case('cancel-2', 'cancellation', 'cancel', 'SIGTERM while calibrating', ['compress', M, '--out', '{W}/out', '--calib', '{C}', '--calib-samples', '256', '--calib-seq-len', '512'], runner='sigterm:1.0')
    case('cancel-3', 'cancellation', 'cancel', 'SIGINT during eval ppl', ['eval', 'ppl', M, '--data', '{D}', '--seq-len', '128'], runner='sigint:1.0',
         setup=lambda w: write(os.path.join(w, 'wiki.txt'), open(f'{DATA}/wikitext-2-raw/wiki.test.raw', encoding='utf-8').read()))
    case('cancel-4', 'cancellation', 'cancel', 'SIGINT during the Fisher pass', ['fisher', M, '--out', '{W}/out.fisher', '--calib', '{C}', '--samples', '64', '--seq-len', '256'], runner='sigint:1.0')
    case('cancel-5', 'cancellation', 'cancel', 'SIGINT during generate', ['generate', M, '--prompt', 'Once', '--max-tokens', '1900', '--no-warmup', '--temperature', '1', '--seed', '1'], runner='sigint:1.0')
    # 5. NaN / Inf weights
    for i, (tensor, kind, cmd, d, chk) in enumerate([
        ('model.embed_tokens.weight', 'nan', 'generate', 'NaN in embed_tokens: generate', None),
        ('model.layers.0.self_attn.q_proj.weight', 'nan', 'generate', 'NaN in layer 0 q_proj: generate', None),
        ('model.layers.1.mlp.down_proj.weight', 'inf', 'generate', '+Inf in layer 1 down_proj: generate', None),
        ('model.norm.weight', '-inf', 'generate', '-Inf in model.norm: generate', None),
        ('model.layers.0.self_attn.q_proj.weight', 'nan', 'ppl', 'NaN in q_proj: eval ppl', None),
        ('model.layers.0.self_attn.q_proj.weight', 'nan', 'pplj', 'NaN in q_proj: eval ppl --json', None),
        ('model.layers.2.input_layernorm.weight', 'inf', 'ppl', 'Inf in a norm: eval ppl', None),
        ('model.layers.0.self_attn.k_proj.weight', 'nan', 'svd', 'NaN in k_proj: compress --decomposition svd', None),
        ('model.layers.0.self_attn.k_proj.weight', 'nan', 'svdj', 'NaN in k_proj: compress --decomposition svd --json', None),
        ('model.layers.0.self_attn.v_proj.weight', 'inf', 'whiten', 'Inf in v_proj: compress (whiten)', None),
        ('model.layers.0.mlp.up_proj.weight', 'nan', 'fisher', 'NaN in up_proj: fisher', None),
        ('model.layers.0.mlp.up_proj.weight', 'nan', 'zeroshot', 'NaN in up_proj: eval zeroshot', None),
        ('model.layers.3.self_attn.o_proj.weight', 'nan', 'generate', 'NaN in the last layer o_proj: generate', None),
        ('model.embed_tokens.weight', 'big', 'ppl', 'largest finite bf16 values in embed_tokens (activations overflow): eval ppl', None),
    ]):
        argv = {'generate': ['generate', M, '--prompt', 'Once upon a time', *GEN, '--json'],
                'ppl': ['eval', 'ppl', M, '--data', '{D}', *PPL], 'pplj': ['eval', 'ppl', M, '--data', '{D}', *PPL, '--json'],
                'svd': ['compress', M, '--out', '{W}/out', '--decomposition', 'svd'], 'svdj': ['compress', M, '--out', '{W}/out', '--decomposition', 'svd', '--json'],
                'whiten': ['compress', M, '--out', '{W}/out', '--calib', '{C}', *CAL],
                'fisher': ['fisher', M, '--out', '{W}/out.fisher', '--calib', '{C}', *FIS],
                'zeroshot': ['eval', 'zeroshot', M, '--task', 'boolq', '--data', f'{DATA}/tasks/boolq/dev.jsonl', '--limit', '3', '--json']}[cmd]
        n = 4096 if kind == 'big' else 1
        case(f'nan-{i+1}', 'non-finite weights', 'error', d, argv, setup=lambda w, t=tensor, k=kind, n=n: poke(os.path.join(w, 'm'), t, k, 0, n))
    case('nan-15', 'non-finite weights', 'error', '--no-check-weights with NaN in q_proj: generate still refuses (logits check)',
         ['generate', M, '--prompt', 'Once upon a time', *GEN, '--no-check-weights'], setup=lambda w: poke(os.path.join(w, 'm'), 'model.layers.0.self_attn.q_proj.weight', 'nan'))
    case('nan-16', 'non-finite weights', 'error', '--no-check-weights with NaN: eval ppl --json still refuses',
         ['eval', 'ppl', M, '--data', '{D}', *PPL, '--json', '--no-check-weights'], setup=lambda w: poke(os.path.join(w, 'm'), 'model.layers.0.self_attn.q_proj.weight', 'nan'))
    case('nan-17', 'non-finite weights', 'ok', 'the weight scan passes a healthy model: generate works',
         ['generate', M, '--prompt', 'Once', *GEN], setup=None, check=nonempty_completion)
    case('nan-18', 'non-finite weights', 'error', 'NaN weights: palu doctor reports them', ['doctor', M], setup=lambda w: poke(os.path.join(w, 'm'), 'model.layers.0.self_attn.q_proj.weight', 'nan'))
    # 6. dtype labels that lie
    case('dtype-1', 'dtype mislabel', 'error', 'BF16 bytes relabelled F16: generate', ['generate', M, '--prompt', 'Once', *GEN], setup=lambda w: relabel(os.path.join(w, 'm'), 'F16'))
    case('dtype-2', 'dtype mislabel', 'error', 'BF16 bytes relabelled F16: eval ppl', ['eval', 'ppl', M, '--data', '{D}', *PPL], setup=lambda w: relabel(os.path.join(w, 'm'), 'F16'))
    case('dtype-3', 'dtype mislabel', 'ok', 'a real F16 checkpoint loads and scores', ['eval', 'ppl', M, '--data', '{D}', *PPL, '--json'], setup=lambda w: bf16_to_f16(os.path.join(w, 'm')), check=no_nan_json)
    case('dtype-4', 'dtype mislabel', 'error', 'F16 bytes relabelled BF16: generate', ['generate', M, '--prompt', 'Once', *GEN], setup=lambda w: (bf16_to_f16(os.path.join(w, 'm')), relabel(os.path.join(w, 'm'), 'BF16')))
    case('dtype-5', 'dtype mislabel', 'error', 'weights labelled I16 (same size)', ['generate', M, '--prompt', 'Once', *GEN], setup=lambda w: relabel(os.path.join(w, 'm'), 'I16'))
    case('dtype-6', 'dtype mislabel', 'error', 'BF16 relabelled F16: compress', ['compress', M, '--out', '{W}/out', '--decomposition', 'svd'], setup=lambda w: relabel(os.path.join(w, 'm'), 'F16'))
    # 7. damaged safetensors
    st = lambda w: os.path.join(w, 'm', 'model.safetensors')
    def trunc(w, n):
        b = open(st(w), 'rb').read(); open(st(w), 'wb').write(b[:n])
    def first_tensor(h): return sorted(k for k in h if k != '__metadata__')[0]
    damages = [
        ('truncated to half', lambda w: trunc(w, os.path.getsize(st(w)) // 2)),
        ('truncated to 4 bytes', lambda w: trunc(w, 4)),
        ('empty file', lambda w: trunc(w, 0)),
        ('header length field 2^60', lambda w: open(st(w), 'r+b').write(struct.pack('<Q', 1 << 60))),
        ('header length larger than the file', lambda w: open(st(w), 'r+b').write(struct.pack('<Q', os.path.getsize(st(w))))),
        ('header is not JSON', lambda w: raw_header(os.path.join(w, 'm'), b'this is not json at all')),
        ('header has invalid UTF-8', lambda w: raw_header(os.path.join(w, 'm'), b'{"a\xff\xfe": 1}')),
        ('header is a JSON array', lambda w: raw_header(os.path.join(w, 'm'), b'[1, 2, 3]')),
        ('an entry without dtype', lambda w: edit_header(os.path.join(w, 'm'), lambda h: h[first_tensor(h)].pop('dtype'))),
        ('unknown dtype Q4', lambda w: edit_header(os.path.join(w, 'm'), lambda h: h[first_tensor(h)].__setitem__('dtype', 'Q4'))),
        ('negative shape', lambda w: edit_header(os.path.join(w, 'm'), lambda h: h[first_tensor(h)].__setitem__('shape', [-1, 192]))),
        ('fractional shape', lambda w: edit_header(os.path.join(w, 'm'), lambda h: h[first_tensor(h)].__setitem__('shape', [1.5, 192]))),
        ('huge shape (element count overflows)', lambda w: edit_header(os.path.join(w, 'm'), lambda h: h[first_tensor(h)].__setitem__('shape', [1 << 62, 1 << 62]))),
        ('offsets out of range', lambda w: edit_header(os.path.join(w, 'm'), lambda h: h[first_tensor(h)].__setitem__('data_offsets', [0, 1 << 40]))),
        ('offsets reversed', lambda w: edit_header(os.path.join(w, 'm'), lambda h: h[first_tensor(h)].__setitem__('data_offsets', [100, 0]))),
        ('two tensors overlap', lambda w: edit_header(os.path.join(w, 'm'), lambda h: h[sorted(k for k in h if k != '__metadata__')[1]].__setitem__('data_offsets', list(h[first_tensor(h)]['data_offsets'])))),
        ('byte length does not match the shape', lambda w: edit_header(os.path.join(w, 'm'), lambda h: h[first_tensor(h)].__setitem__('shape', [1, 1]))),
        ('data_offsets as strings', lambda w: edit_header(os.path.join(w, 'm'), lambda h: h[first_tensor(h)].__setitem__('data_offsets', ['0', '10']))),
        ('random bytes instead of a checkpoint', lambda w: write(st(w), os.urandom(4096))),
        ('a directory named model.safetensors', lambda w: (os.remove(st(w)), os.makedirs(st(w)))),
        ('a tensor missing (q_proj of layer 2)', lambda w: edit_header(os.path.join(w, 'm'), lambda h: h.pop('model.layers.2.self_attn.q_proj.weight'))),
        ('a tensor with the wrong shape', lambda w: edit_header(os.path.join(w, 'm'), lambda h: h['model.layers.0.mlp.up_proj.weight'].__setitem__('shape', [192, 512]))),
        ('weights stored as I32', lambda w: edit_header(os.path.join(w, 'm'), lambda h: h['model.norm.weight'].update(dtype='I32', shape=[96]))),
        ('no model.safetensors at all', lambda w: os.remove(st(w))),
        ('only a pytorch_model.bin', lambda w: os.rename(st(w), os.path.join(w, 'm', 'pytorch_model.bin'))),
        ('__metadata__ is a number', lambda w: edit_header(os.path.join(w, 'm'), lambda h: h.__setitem__('__metadata__', 5))),
    ]
    for i, (d, fn) in enumerate(damages):
        case(f'st-{i+1}', 'damaged safetensors', 'error', d + ': generate', ['generate', M, '--prompt', 'Once', *GEN], setup=fn)
    for i, (d, fn) in enumerate(damages[:6]):
        case(f'st-i{i+1}', 'damaged safetensors', 'error', d + ': inspect', ['inspect', M], setup=fn)
    case('st-x1', 'damaged safetensors', 'error', 'an extra layer 4 in a 4-layer model (config says fewer layers than the file)', ['generate', M, '--prompt', 'Once', *GEN],
         setup=lambda w: config(os.path.join(w, 'm'), num_hidden_layers=3))
    # 8. config.json
    cfg = [
        ('num_hidden_layers 3 (file has 4)', dict(num_hidden_layers=3)), ('num_hidden_layers 5 (file has 4)', dict(num_hidden_layers=5)),
        ('num_hidden_layers 0', dict(num_hidden_layers=0)), ('num_hidden_layers -1', dict(num_hidden_layers=-1)),
        ('hidden_size 2.5', dict(hidden_size=2.5)), ('hidden_size "192" (a string)', dict(hidden_size='192')), ('hidden_size -192', dict(hidden_size=-192)),
        ('hidden_size 0', dict(hidden_size=0)), ('hidden_size 1e20', dict(hidden_size=1e20)), ('hidden_size missing', dict(hidden_size=DELETE)),
        ('rms_norm_eps -1', dict(rms_norm_eps=-1)), ('rms_norm_eps 0', dict(rms_norm_eps=0)), ('rms_norm_eps 1e10', dict(rms_norm_eps=1e10)),
        ('rope_theta 0', dict(rope_theta=0)), ('rope_theta -5', dict(rope_theta=-5)), ('rope_theta "10000"', dict(rope_theta='10000')),
        ('max_position_embeddings 0', dict(max_position_embeddings=0)), ('max_position_embeddings 1e12', dict(max_position_embeddings=10**12)),
        ('max_position_embeddings 2^31-1', dict(max_position_embeddings=2**31 - 1)),
        ('vocab_size 100 (embeddings have 4096)', dict(vocab_size=100)), ('vocab_size 0', dict(vocab_size=0)),
        ('num_attention_heads 0', dict(num_attention_heads=0)), ('num_key_value_heads 2 (does not divide 3)', dict(num_key_value_heads=2)),
        ('num_key_value_heads 0', dict(num_key_value_heads=0)), ('head_dim 63 (odd)', dict(head_dim=63)), ('head_dim 0', dict(head_dim=0)),
        ('intermediate_size 100 (weights have 512)', dict(intermediate_size=100)), ('intermediate_size -1', dict(intermediate_size=-1)),
        ('architectures GPT2LMHeadModel', dict(architectures=['GPT2LMHeadModel'])), ('hidden_act gelu', dict(hidden_act='gelu')),
        ('rope_scaling type yarn', dict(rope_scaling={'rope_type': 'yarn', 'factor': 2.0})), ('rope_scaling factor 0', dict(rope_scaling={'rope_type': 'linear', 'factor': 0})),
        ('rope_scaling factor missing', dict(rope_scaling={'rope_type': 'linear'})),
        ('bos_token_id 99999 (beyond vocab)', dict(bos_token_id=99999)), ('eos_token_id -3', dict(eos_token_id=-3)), ('eos_token_id [1, "x"]', dict(eos_token_id=[1, 'x'])),
        ('tie_word_embeddings false without lm_head', dict(tie_word_embeddings=False)), ('architectures PaluLlamaForCausalLM without a palu block', dict(architectures=['PaluLlamaForCausalLM'])),
        ('sliding_window 0 (Mistral)', dict(architectures=['MistralForCausalLM'], model_type='mistral', sliding_window=0)),
        ('num_attention_heads 2^31-1', dict(num_attention_heads=2**31 - 1, num_key_value_heads=1)),
    ]
    for i, (d, edits) in enumerate(cfg):
        case(f'cfg-{i+1}', 'config.json', 'error', d, ['generate', M, '--prompt', 'Once', *GEN], setup=lambda w, e=edits: config(os.path.join(w, 'm'), **e))
    case('cfg-41', 'config.json', 'error', 'config.json missing', ['generate', M, '--prompt', 'Once', *GEN], setup=lambda w: os.remove(os.path.join(w, 'm', 'config.json')))
    case('cfg-42', 'config.json', 'error', 'config.json is not JSON', ['generate', M, '--prompt', 'Once', *GEN], setup=lambda w: write(os.path.join(w, 'm', 'config.json'), '{"hidden_size": 192,'))
    case('cfg-43', 'config.json', 'error', 'config.json is a JSON array', ['generate', M, '--prompt', 'Once', *GEN], setup=lambda w: write(os.path.join(w, 'm', 'config.json'), '[1]'))
    case('cfg-44', 'config.json', 'error', 'config.json in UTF-16', ['generate', M, '--prompt', 'Once', *GEN],
         setup=lambda w: write(os.path.join(w, 'm', 'config.json'), open(os.path.join(w, 'm', 'config.json'), encoding='utf-8').read().encode('utf-16')))
    case('cfg-45', 'config.json', 'ok', 'unknown extra fields and torch_dtype "weird" are ignored', ['generate', M, '--prompt', 'Once', *GEN],
         setup=lambda w: config(os.path.join(w, 'm'), torch_dtype='weird', my_field=[1, 2]), check=nonempty_completion)
    case('cfg-46', 'config.json', 'error', 'rms_norm_eps -1: eval ppl', ['eval', 'ppl', M, '--data', '{D}', *PPL, '--json'], setup=lambda w: config(os.path.join(w, 'm'), rms_norm_eps=-1))
    case('cfg-47', 'config.json', 'error', 'num_hidden_layers 3: compress', ['compress', M, '--out', '{W}/out', '--decomposition', 'svd'], setup=lambda w: config(os.path.join(w, 'm'), num_hidden_layers=3))
    case('cfg-48', 'config.json', 'error', 'hidden_size 2.5: inspect', ['inspect', M], setup=lambda w: config(os.path.join(w, 'm'), hidden_size=2.5))
    # 9. model.safetensors.index.json
    idx_cases = [
        ('a shard ../x.safetensors outside the model', lambda i: i['weight_map'].__setitem__('model.norm.weight', '../x.safetensors'), lambda w: shutil.copy(os.path.join(w, 'm', 'model-00001-of-00001.safetensors'), os.path.join(w, 'x.safetensors'))),
        ('a shard /etc/passwd', lambda i: i['weight_map'].__setitem__('model.norm.weight', '/etc/passwd'), None),
        ('an absolute path to the real shard', lambda i: None, 'abs'),
        ('a shard that does not exist', lambda i: i['weight_map'].__setitem__('model.norm.weight', 'model-00002-of-00002.safetensors'), None),
        ('a shard name that is a number', lambda i: i['weight_map'].__setitem__('model.norm.weight', 7), None),
        ('weight_map missing', lambda i: i.pop('weight_map'), None),
        ('a tensor listed that is not in its shard', lambda i: i['weight_map'].__setitem__('model.extra.weight', 'model-00001-of-00001.safetensors'), None),
        ('a shard sub/../../x.safetensors', lambda i: i['weight_map'].__setitem__('model.norm.weight', 'sub/../../x.safetensors'), lambda w: shutil.copy(os.path.join(w, 'm', 'model-00001-of-00001.safetensors'), os.path.join(w, 'x.safetensors'))),
        ('a shard that is config.json', lambda i: i['weight_map'].__setitem__('model.norm.weight', 'config.json'), None),
        ('weight_map is a list', lambda i: i.__setitem__('weight_map', []), None),
    ]
    for i, (d, edit, extra) in enumerate(idx_cases):
        def setup(w, edit=edit, extra=extra):
            m = os.path.join(w, 'm')
            if extra == 'abs': shard(m, lambda ix: ix['weight_map'].__setitem__('model.norm.weight', os.path.join(m, 'model-00001-of-00001.safetensors')))
            else:
                shard(m, edit)
                if extra: extra(w)
        case(f'index-{i+1}', 'index.json paths', 'error', d, ['generate', M, '--prompt', 'Once', *GEN], setup=setup)
    case('index-11', 'index.json paths', 'ok', 'a valid sharded checkpoint loads', ['generate', M, '--prompt', 'Once', *GEN], setup=lambda w: shard(os.path.join(w, 'm'), lambda i: None), check=nonempty_completion)
    case('index-12', 'index.json paths', 'ok', 'a shard that is a symbolic link to a blob outside (HF cache layout)', ['generate', M, '--prompt', 'Once', *GEN],
         setup=lambda w: (shard(os.path.join(w, 'm'), lambda i: None), os.rename(os.path.join(w, 'm', 'model-00001-of-00001.safetensors'), os.path.join(w, 'blob')),
                          os.symlink(os.path.join(w, 'blob'), os.path.join(w, 'm', 'model-00001-of-00001.safetensors'))), check=nonempty_completion)
    # 10. tokenizer.json
    tj = lambda w: os.path.join(w, 'm', 'tokenizer.json')
    def tok_edit(fn):
        def f(w):
            t = json.load(open(tj(w), encoding='utf-8')); fn(t); json.dump(t, open(tj(w), 'w'))
        return f
    toks = [
        ('tokenizer.json missing', lambda w: os.remove(tj(w))),
        ('tokenizer.json is not JSON', lambda w: write(tj(w), '{"model": ')),
        ('tokenizer.json is {}', lambda w: write(tj(w), '{}')),
        ('model type Unigram (unsupported)', tok_edit(lambda t: t['model'].__setitem__('type', 'Unigram'))),
        ('model.vocab missing', tok_edit(lambda t: t['model'].pop('vocab'))),
        ('merges reference unknown tokens', tok_edit(lambda t: t['model'].__setitem__('merges', [['zzqx', 'qqzy']] + t['model']['merges'][:5]))),
        ('a vocab id beyond vocab_size (5000 > 4095)', tok_edit(lambda t: t['model']['vocab'].__setitem__(next(iter(t['model']['vocab'])), 5000))),
        ('a negative vocab id', tok_edit(lambda t: t['model']['vocab'].__setitem__(next(iter(t['model']['vocab'])), -1))),
        ('an added token with id 99999', tok_edit(lambda t: t.setdefault('added_tokens', []).append({'id': 99999, 'content': '<x>', 'special': True, 'single_word': False, 'lstrip': False, 'rstrip': False, 'normalized': False}))),
        ('tokenizer.json in Latin-1 bytes', lambda w: write(tj(w), b'{"model": {"type": "BPE", "vocab": {"\xe9": 0}}}')),
        ('normalizer of an unknown type', tok_edit(lambda t: t.__setitem__('normalizer', {'type': 'Frobnicate'}))),
        ('pre_tokenizer Split with an invalid regex', tok_edit(lambda t: t.__setitem__('pre_tokenizer', {'type': 'Split', 'pattern': {'Regex': '(['}, 'behavior': 'Isolated', 'invert': False}))),
    ]
    for i, (d, fn) in enumerate(toks):
        case(f'tok-{i+1}', 'tokenizer.json', 'error', d, ['generate', M, '--prompt', 'Once upon a time', *GEN], setup=fn)
    # 11. palu.json of a compressed model
    pj = lambda w: os.path.join(w, 'm', 'palu.json')
    def plan_edit(fn):
        def f(w):
            p = json.load(open(pj(w))); fn(p); json.dump(p, open(pj(w), 'w'))
        return f
    def first_module(p): return p['modules'][0]
    plans = [
        ('palu.json missing', lambda w: os.remove(pj(w))),
        ('palu.json is not JSON', lambda w: write(pj(w), '{"version": 2,')),
        ('a group rank edited to 999', plan_edit(lambda p: first_module(p)['groups'][0].__setitem__('rank', 999))),
        ('a group rank edited to 0', plan_edit(lambda p: first_module(p)['groups'][0].__setitem__('rank', 0))),
        ('a group rank edited to -4', plan_edit(lambda p: first_module(p)['groups'][0].__setitem__('rank', -4))),
        ('a module name of layer 99', plan_edit(lambda p: first_module(p).__setitem__('name', 'model.layers.99.self_attn.k_proj'))),
        ('version 99', plan_edit(lambda p: p.__setitem__('version', 99))),
        ('a head index 7 (3 KV heads)', plan_edit(lambda p: first_module(p)['groups'][0].__setitem__('heads', [0, 1, 7]))),
        ('a head listed twice', plan_edit(lambda p: first_module(p)['groups'][0].__setitem__('heads', [0, 0, 1]))),
        ('module kind "magic"', plan_edit(lambda p: first_module(p).__setitem__('kind', 'magic'))),
        ('a factor tensor name that does not exist', plan_edit(lambda p: first_module(p).__setitem__('down', 'nope.weight'))),
        ('modules is a string', plan_edit(lambda p: p.__setitem__('modules', 'x'))),
    ]
    for i, (d, fn) in enumerate(plans):
        case(f'plan-{i+1}', 'palu.json', 'error', d, ['generate', M, '--prompt', 'Once', *GEN], setup=fn, runner='compressed')
    case('plan-13', 'palu.json', 'ok', 'an intact compressed model generates', ['generate', M, '--prompt', 'Once', *GEN], runner='compressed', check=nonempty_completion)
    case('plan-14', 'palu.json', 'error', 'compressing an already compressed model', ['compress', M, '--out', '{W}/out', '--decomposition', 'svd'], runner='compressed')
    # 12. text inputs
    latin1 = 'Caf\xe9 na\xefve r\xe9sum\xe9 ' * 3000
    texts = [
        ('binary', lambda p: write(p, os.urandom(200000))),
        ('UTF-16', lambda p: write(p, open(f'{DATA}/wikitext-2-raw/wiki.test.raw', encoding='utf-8').read()[:100000].encode('utf-16'))),
        ('Latin-1', lambda p: write(p, latin1.encode('latin-1'))),
        ('NUL bytes inside UTF-8 text', lambda p: write(p, (open(f'{DATA}/wikitext-2-raw/wiki.test.raw', encoding='utf-8').read()[:100000] + '\0' * 50).encode())),
    ]
    for i, (d, fn) in enumerate(texts):
        case(f'text-ppl-{i+1}', 'text input encoding', 'error', f'eval ppl --data {d}', ['eval', 'ppl', M, '--data', '{W}/bad.txt', *PPL], setup=lambda w, fn=fn: fn(os.path.join(w, 'bad.txt')))
        case(f'text-cal-{i+1}', 'text input encoding', 'error', f'compress --calib {d}', ['compress', M, '--out', '{W}/out', '--calib', '{W}/bad.txt', *CAL], setup=lambda w, fn=fn: fn(os.path.join(w, 'bad.txt')))
        case(f'text-fis-{i+1}', 'text input encoding', 'error', f'fisher --calib {d}', ['fisher', M, '--out', '{W}/out.fisher', '--calib', '{W}/bad.txt', *FIS], setup=lambda w, fn=fn: fn(os.path.join(w, 'bad.txt')))
        case(f'text-gen-{i+1}', 'text input encoding', 'error', f'generate --prompt-file {d}', ['generate', M, '--prompt-file', '{W}/bad.txt', '--max-tokens', '2', '--no-warmup'], setup=lambda w, fn=fn: fn(os.path.join(w, 'bad.txt')))
    case('text-allow-1', 'text input encoding', 'ok', 'eval ppl --data Latin-1 with --allow-invalid-text (warning, result)', ['eval', 'ppl', M, '--data', '{W}/bad.txt', *PPL, '--allow-invalid-text', '--json'],
         setup=lambda w: texts[2][1](os.path.join(w, 'bad.txt')), check=no_nan_json)
    case('text-allow-2', 'text input encoding', 'ok', 'a UTF-8 file with a BOM is fine', ['eval', 'ppl', M, '--data', '{W}/bom.txt', *PPL, '--json'],
         setup=lambda w: write(os.path.join(w, 'bom.txt'), b'\xef\xbb\xbf' + open(f'{DATA}/wikitext-2-raw/wiki.test.raw', 'rb').read()[:50000]), check=no_nan_json)
    case('text-5', 'text input encoding', 'error', 'eval ppl --data an empty file', ['eval', 'ppl', M, '--data', '{W}/empty.txt', *PPL], setup=lambda w: write(os.path.join(w, 'empty.txt'), ''))
    case('text-6', 'text input encoding', 'error', 'eval ppl --data a directory', ['eval', 'ppl', M, '--data', '{W}', *PPL])
    case('text-7', 'text input encoding', 'error', 'eval ppl --data missing', ['eval', 'ppl', M, '--data', '{W}/none.txt', *PPL])
    case('text-8', 'text input encoding', 'error', 'compress --calib too short', ['compress', M, '--out', '{W}/out', '--calib', '{W}/short.txt', *CAL], setup=lambda w: write(os.path.join(w, 'short.txt'), 'hello world'))
    case('text-9', 'text input encoding', 'error', 'zeroshot --data binary', ['eval', 'zeroshot', M, '--task', 'boolq', '--data', '{W}/bad.jsonl', '--limit', '2'], setup=lambda w: write(os.path.join(w, 'bad.jsonl'), os.urandom(5000)))
    case('text-10', 'text input encoding', 'error', 'zeroshot --data lines that are not JSON', ['eval', 'zeroshot', M, '--task', 'boolq', '--data', '{W}/bad.jsonl', '--limit', '2'], setup=lambda w: write(os.path.join(w, 'bad.jsonl'), 'not json\nalso not\n'))
    case('text-11', 'text input encoding', 'error', 'zeroshot --data JSON lines without the fields', ['eval', 'zeroshot', M, '--task', 'boolq', '--data', '{W}/bad.jsonl', '--limit', '2'], setup=lambda w: write(os.path.join(w, 'bad.jsonl'), '{"a": 1}\n{"b": 2}\n'))
    case('text-12', 'text input encoding', 'error', 'zeroshot --data an empty file', ['eval', 'zeroshot', M, '--task', 'boolq', '--data', '{W}/bad.jsonl'], setup=lambda w: write(os.path.join(w, 'bad.jsonl'), ''))
    # 13. option values
    opts = [
        (['compress', M, '--out', '{W}/out', '--kv-keep', '0'], '--kv-keep 0'), (['compress', M, '--out', '{W}/out', '--kv-keep', '1.5'], '--kv-keep 1.5'),
        (['compress', M, '--out', '{W}/out', '--kv-keep', 'NaN'], '--kv-keep NaN'), (['compress', M, '--out', '{W}/out', '--kv-keep', 'abc'], '--kv-keep abc'),
        (['compress', M, '--out', '{W}/out', '--kv-keep', '-0.5'], '--kv-keep -0.5'), (['compress', M, '--out', '{W}/out', '--group-size', '0'], '--group-size 0'),
        (['compress', M, '--out', '{W}/out', '--group-size', '2'], '--group-size 2 (does not divide 3)'), (['compress', M, '--out', '{W}/out', '--calib-samples', '0', '--calib', '{C}'], '--calib-samples 0'),
        (['compress', M, '--out', '{W}/out', '--calib-seq-len', '1', '--calib', '{C}'], '--calib-seq-len 1'), (['compress', M, '--out', '{W}/out', '--calib-seq-len', '99999', '--calib', '{C}'], '--calib-seq-len beyond the context'),
        (['compress', M, '--out', '{W}/out', '--rank-allocation', 'magic'], '--rank-allocation magic'), (['compress', M, '--out', '{W}/out', '--fisher', '{W}/none.safetensors', '--rank-allocation', 'fisher'], '--fisher missing file'),
        (['compress', M, '--out', '{W}/out', '--fisher', '{C}', '--rank-allocation', 'fisher'], '--fisher a text file'),
        (['eval', 'ppl', M, '--data', '{D}', '--seq-len', '0'], '--seq-len 0'), (['eval', 'ppl', M, '--data', '{D}', '--seq-len', '1'], '--seq-len 1'),
        (['eval', 'ppl', M, '--data', '{D}', '--seq-len', '100000'], '--seq-len beyond the context'), (['eval', 'ppl', M, '--data', '{D}', '--max-windows', '0'], '--max-windows 0'),
        (['eval', 'ppl', M, '--data', '{D}', '--max-windows', '-3'], '--max-windows -3'), (['eval', 'ppl', M, '--data', '{D}', '--protocol', 'magic'], '--protocol magic'),
        (['generate', M, '--prompt', 'x', '--max-tokens', '-1'], '--max-tokens -1'), (['generate', M, '--prompt', 'x', '--temperature', '-1'], '--temperature -1'),
        (['generate', M, '--prompt', 'x', '--temperature', 'NaN'], '--temperature NaN'), (['generate', M, '--prompt', 'x', '--top-p', '2'], '--top-p 2'),
        (['generate', M, '--prompt', 'x', '--top-p', '0'], '--top-p 0'), (['generate', M, '--prompt', 'x', '--top-k', '-1'], '--top-k -1'),
        (['generate', M, '--prompt', 'x', '--repetition-penalty', '0'], '--repetition-penalty 0'), (['generate', M, '--prompt', 'x', '--repetition-penalty', 'Infinity'], '--repetition-penalty Infinity'),
        (['generate', M, '--prompt', 'x', '--frequency-penalty', 'NaN'], '--frequency-penalty NaN'),
        (['generate', M, '--prompt', 'x', '--threads', '0'], '--threads 0'), (['generate', M, '--prompt', 'x', '--device', 'tpu'], '--device tpu'),
        (['generate', M, '--prompt', 'x', '--kv-dtype', 'q4'], '--kv-dtype q4'), (['generate', '{W}/none', '--prompt', 'x'], 'model directory missing'),
        (['generate', '{W}/file.txt', '--prompt', 'x'], 'model is a file'), (['generate', '{W}/emptydir', '--prompt', 'x'], 'model is an empty directory'),
        (['eval', 'zeroshot', M, '--task', 'boolq', '--limit', '-1'], '--limit -1'), (['eval', 'zeroshot', M, '--task', 'nope'], '--task nope'),
        (['eval', 'zeroshot', M, '--task', 'boolq', '--workers', '0'], '--workers 0'), (['fisher', M, '--out', '{W}/out.fisher', '--samples', '0', '--calib', '{C}'], 'fisher --samples 0'),
        (['fisher', M, '--out', '{W}/out.fisher', '--seq-len', '2', '--calib', '{C}'], 'fisher --seq-len 2'), (['eval', 'suite', M, '--out', '{W}/out', '--limit', '0'], 'suite --limit 0'),
        (['compress', M, '--out', '', '--decomposition', 'svd'], '--out empty string'), (['generate', M, '--prompt', 'x', '--max-tokens', '99999999999'], '--max-tokens too large for an integer'),
        (['generate', M, '--prompt', 'x', '--seed', 'abc'], '--seed abc'), (['generate', M, '--prompt', '', '--max-tokens', '2'], 'empty prompt without BOS handling'),
    ]
    for i, (argv, d) in enumerate(opts):
        case(f'opt-{i+1}', 'option values', 'error' if d != 'empty prompt without BOS handling' else 'ok', d, argv,
             setup=lambda w: (write(os.path.join(w, 'file.txt'), 'x'), os.makedirs(os.path.join(w, 'emptydir'))))
    # 14. concurrent writers
    case('conc-1', 'concurrent writers', 'ok', 'two compress runs to the same --out at once', ['compress', M, '--out', '{W}/out', '--decomposition', 'svd', '--overwrite'], runner='twice', check=all_of(no_staging, out_loads))
    case('conc-2', 'concurrent writers', 'ok', 'two fisher runs sharing one cache at once', ['fisher', M, '--out', '{W}/out.fisher', '--calib', '{C}', *FIS, '--cache-dir', '{W}/cache'], runner='twice', check=no_staging)
    # 15. Fisher cache
    def bad_cache(w):
        os.makedirs(os.path.join(w, 'cache'))
    case('cache-1', 'fisher cache', 'ok', 'a damaged file in the cache is recomputed', ['fisher', M, '--out', '{W}/out.fisher', '--calib', '{C}', *FIS, '--cache-dir', '{W}/cache'], runner='corrupt-cache', check=no_staging)
    case('cache-2', 'fisher cache', 'error', 'the cache dir is a file', ['fisher', M, '--out', '{W}/out.fisher', '--calib', '{C}', *FIS, '--cache-dir', '{C}'])
    # 16. JSON output
    case('json-1', 'json output', 'ok', 'compress --json prints exactly one JSON object', ['compress', M, '--out', '{W}/out', '--decomposition', 'svd', '--json'], check=no_nan_json)
    case('json-2', 'json output', 'ok', 'eval ppl --json is one JSON object with a finite ppl', ['eval', 'ppl', M, '--data', '{D}', *PPL, '--json'], check=no_nan_json)
    case('json-3', 'json output', 'ok', 'doctor --json on a healthy model', ['doctor', M, '--json'], check=no_nan_json)
    case('json-4', 'json output', 'ok', 'doctor on a healthy model: exit 0', ['doctor', M])

def prepare(w, compressed_template):
    os.makedirs(w)
    if compressed_template: shutil.copytree(compressed_template, os.path.join(w, 'm'))
    else: shutil.copytree(MODEL, os.path.join(w, 'm'), ignore=shutil.ignore_patterns('golden', 'foundry.json'))
    for root, dirs, files in os.walk(w):
        for x in dirs: os.chmod(os.path.join(root, x), 0o755)
        for x in files: os.chmod(os.path.join(root, x), 0o644)
    write(os.path.join(w, 'calib.txt'), open(f'{DATA}/calib/corpus-train-2M.txt', 'rb').read()[:400000].decode('utf-8', 'ignore').encode())
    write(os.path.join(w, 'wiki.txt'), open(f'{DATA}/wikitext-2-raw/wiki.test.raw', 'rb').read()[:60000].decode('utf-8', 'ignore').encode())

def hashes(w):
    h = {}
    for root, dirs, files in os.walk(w):
        rel = os.path.relpath(root, w)
        top = rel.split(os.sep)[0]
        if top.startswith('out') or top == 'cache' or '.staging-' in top or '.old-' in top: continue
        for f in files:
            p = os.path.join(root, f)
            if rel == '.' and (f.startswith('out') or '.tmp-' in f): continue
            try: h[os.path.relpath(p, w)] = hashlib.sha256(open(p, 'rb').read()).hexdigest() if os.path.isfile(p) else 'special'
            except OSError as e: h[os.path.relpath(p, w)] = 'unreadable'
    return h

def expand(args, w):
    return [a.replace('{M}', os.path.join(w, 'm')).replace('{W}', w).replace('{C}', os.path.join(w, 'calib.txt')).replace('{D}', os.path.join(w, 'wiki.txt')) for a in args]

def run(argv, timeout=240, sig=None):
    """Runs palu; with sig=(signal, seconds) the signal is sent that long after the command shows it is working (its
    first progress line on stderr or first output on stdout), so a loaded machine's slow start-up does not matter."""
    import threading
    # SIGINT back to its default: a background (nohup, &) parent hands down SIGINT ignored, which .NET keeps
    p = subprocess.Popen(['dotnet', DLL, *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV, text=True, errors='replace', bufsize=1,
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    out, err, working = [], [], threading.Event()
    def pump(stream, into, is_err):
        for line in iter(stream.readline, ''):
            into.append(line)
            if not is_err or re.search(r'%|elapsed', line): working.set()
        stream.close()
    ts = [threading.Thread(target=pump, args=(p.stdout, out, False), daemon=True), threading.Thread(target=pump, args=(p.stderr, err, True), daemon=True)]
    for t in ts: t.start()
    if sig:
        signame, at = sig
        working.wait(120)
        time.sleep(at)
        if p.poll() is None: p.send_signal(signame)
    try:
        p.wait(timeout=timeout)
        rc = p.returncode
    except subprocess.TimeoutExpired:
        p.kill(); p.wait(); rc = None
    for t in ts: t.join(5)
    return dict(rc=rc, stdout=''.join(out), stderr=''.join(err))

# a fault in one of these files must be named in the message (not blamed on another file)
NAMES = {'palu.json': 'palu.json', 'config.json': 'config.json', 'tokenizer.json': 'tokenizer', 'index.json paths': 'index.json'}

STACK = re.compile(r'^\s+at [\w.<>`]+[.(]|Unhandled exception|internal error|^System\.\w+Exception', re.M)

def classify(c, r, w, before, after):
    err = r['stderr']; lines = [l for l in err.splitlines() if l.startswith('error:')]
    if r['rc'] is None: return ('hang',)
    if before != after:
        changed = sorted(set(k for k in before.keys() | after.keys() if before.get(k) != after.get(k)))
        return 'data-loss', f'changed: {changed[:3]}'
    if STACK.search(err): return ('stack-trace',)
    if c['expect'] == 'cancel':
        if r['rc'] == 0: return 'silent-wrong', 'exit 0 after the signal (ignored)'
        left = [e for e in os.listdir(w) if e.startswith('out') or e.startswith('.out')]
        if left: return 'left-files', f'left: {left}'
        return ('cancelled',) if r['rc'] == 130 else ('unclear-error', f'exit {r["rc"]}')
    if c['expect'] == 'error':
        if r['rc'] == 0: return 'silent-wrong', 'exit 0'
        if r['rc'] != 1 or not lines: return 'unclear-error', f'exit {r["rc"]}'
        msg = ' '.join(lines)
        if re.search(r'System\.|Exception\b|JsonSerializer|Object reference|Index was outside|Value cannot be null|Specified argument', msg):
            return 'unclear-error', '.NET wording in the message: ' + msg[:160]
        if (need := NAMES.get(c['kind'])) and need not in msg: return 'unclear-error', f'does not name {need}: ' + msg[:160]
        if not re.search(r'/|--|\.json|\.safetensors|MODEL|config|palu', msg): return 'unclear-error', 'names no file or option'
        return ('clear-error',)
    if r['rc'] != 0: return 'refused', (lines[0] if lines else err.strip()[-200:])
    if c['check'] and (m := c['check'](r, w)): return 'silent-wrong', m
    return ('ok',)

def main():
    define()
    if ONLY: print(f'only {len(ONLY)} cases', flush=True)
    compressed = None
    rows = []
    for c in CASES:
        if ONLY and c['id'] not in ONLY: continue
        w = os.path.join(ROOT, c['id'])
        if c['runner'] == 'compressed' and compressed is None:
            t = os.path.join(ROOT, '_template'); prepare(t, None)
            r = run(['compress', os.path.join(t, 'm'), '--out', os.path.join(ROOT, '_compressed'), '--decomposition', 'svd'])
            compressed = os.path.join(ROOT, '_compressed')
            if r['rc'] != 0: print('cannot make the compressed template:', r['stderr'][-300:]); compressed = 'none'
        prepare(w, compressed if c['runner'] == 'compressed' and compressed != 'none' else None)
        if c['setup']: c['setup'](w)
        argv = expand(c['args'], w)
        ENV['PALU_CACHE_DIR'] = os.path.join(w, 'cache')   # a cache per case: no result leaks from one case (or build) into another
        before = hashes(w)
        runner = c['runner'] or ''
        if runner.startswith('sigint') or runner.startswith('sigterm'):
            r = run(argv, sig=(signal.SIGINT if runner.startswith('sigint') else signal.SIGTERM, float(runner.split(':')[1])))
        elif runner == 'kill9-then-rerun':
            run(argv, sig=(signal.SIGKILL, 0.5)); r = run(argv)
        elif runner == 'twice':
            p1 = subprocess.Popen(['dotnet', DLL, *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV, text=True)
            r = run(argv); o1, e1 = p1.communicate()
            if p1.returncode not in (0, 1) or STACK.search(e1): r = dict(rc=p1.returncode, stdout=o1, stderr=e1)
        elif runner == 'corrupt-cache':
            run(argv); [write(os.path.join(w, 'cache', 'fisher', f), b'garbage') for f in os.listdir(os.path.join(w, 'cache', 'fisher'))] if os.path.isdir(os.path.join(w, 'cache', 'fisher')) else None
            for root, _, files in os.walk(os.path.join(w, 'cache')):
                for f in files: write(os.path.join(root, f), b'garbage')
            r = run(argv)
        else:
            r = run(argv)
        after = hashes(w)
        v = classify(c, r, w, before, after)
        first = next((l for l in r['stderr'].splitlines() if l.startswith('error:') or 'internal error' in l or 'Exception' in l), r['stderr'].strip().splitlines()[-1] if r['stderr'].strip() else '')
        cmd = 'palu ' + ' '.join(a.replace(w, 'W') for a in argv)
        rows.append([c['id'], c['kind'], c['expect'], c['desc'], cmd, v[0], str(r['rc']), (v[1] if len(v) > 1 else '') or first[:300]])
        print('\t'.join(rows[-1][:3] + [rows[-1][5], rows[-1][7][:150]]), flush=True)
        shutil.rmtree(w, ignore_errors=True)
    with open(OUT, 'w') as f:
        for row in rows: f.write('\t'.join(x.replace('\t', ' ').replace('\n', ' ') for x in row) + '\n')
    shutil.rmtree(ROOT, ignore_errors=True)

main()
