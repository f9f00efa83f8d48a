#!/usr/bin/python3
# A plain PyTorch conversion of an official-layout RepVGG training state dict, for the benchmark to
# compare against: load the .pth, fold each branch's BN into its conv, pad 1x1 kernels to 3x3, turn
# identity BNs into 3x3 kernels, sum, save. Writes .pth (torch.save) or .safetensors (a small writer
# here, as Debian's Python has no safetensors package). Prints a JSON line with its own timings.
#   python3 scripts/torch_convert.py train.pth deploy.pth [--eps 1e-5]
import json
import struct
import sys
import time

import torch
import torch.nn.functional as F


def fold(sd, prefix, eps):
    """(kernel, bias) of conv+BN at prefix (prefix.conv.weight, prefix.bn.*)."""
    w = sd[prefix + '.conv.weight']
    return fold_bn(sd, prefix + '.bn', eps, w)


def fold_bn(sd, bn, eps, w):
    gamma, beta = sd[bn + '.weight'], sd[bn + '.bias']
    mean, var = sd[bn + '.running_mean'], sd[bn + '.running_var']
    std = (var + eps).sqrt()
    t = (gamma / std).reshape(-1, 1, 1, 1)
    return w * t, beta - mean * gamma / std


def identity_kernel(channels, in_per_group, dtype):
    k = torch.zeros(channels, in_per_group, 3, 3, dtype=dtype)
    idx = torch.arange(channels)
    k[idx, idx % in_per_group, 1, 1] = 1
    return k


def convert(sd, eps):
    blocks = [k[: -len('.rbr_dense.conv.weight')] for k in sd if k.endswith('.rbr_dense.conv.weight')]
    owned = set()
    out = {}
    first = {}
    for b in blocks:
        keys = [k for k in sd if k.startswith(b + '.rbr_dense.') or k.startswith(b + '.rbr_1x1.') or k.startswith(b + '.rbr_identity.')]
        owned.update(keys)
        first[keys[0]] = b
    for key, value in sd.items():
        b = first.get(key)
        if b is not None:
            k3, b3 = fold(sd, b + '.rbr_dense', eps)
            k1, b1 = fold(sd, b + '.rbr_1x1', eps)
            kernel, bias = k3 + F.pad(k1, [1, 1, 1, 1]), b3 + b1
            if b + '.rbr_identity.running_var' in sd:
                ident = identity_kernel(kernel.shape[0], kernel.shape[1], kernel.dtype)
                ki, bi = fold_bn(sd, b + '.rbr_identity', eps, ident)
                kernel, bias = kernel + ki, bias + bi
            out[b + '.rbr_reparam.weight'] = kernel.contiguous()
            out[b + '.rbr_reparam.bias'] = bias.contiguous()
        elif key not in owned:
            out[key] = value
    return out


DTYPES = {torch.float32: 'F32', torch.float16: 'F16', torch.float64: 'F64', torch.int64: 'I64', torch.int32: 'I32', torch.uint8: 'U8', torch.bool: 'BOOL'}


def save_safetensors(tensors, path):
    header = {}
    offset = 0
    for name, t in tensors.items():
        n = t.numel() * t.element_size()
        header[name] = {'dtype': DTYPES[t.dtype], 'shape': list(t.shape), 'data_offsets': [offset, offset + n]}
        offset += n
    head = json.dumps(header, separators=(',', ':')).encode()
    head += b' ' * (-len(head) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(head)))
        f.write(head)
        for t in tensors.values():
            f.write(t.contiguous().numpy().tobytes())


def main():
    args = sys.argv[1:]
    eps = 1e-5
    if '--eps' in args:
        i = args.index('--eps')
        eps = float(args[i + 1])
        del args[i:i + 2]
    src, dst = args
    t0 = time.perf_counter()
    sd = torch.load(src, map_location='cpu')
    t1 = time.perf_counter()
    with torch.no_grad():
        out = convert(sd, eps)
    t2 = time.perf_counter()
    if dst.endswith('.safetensors'):
        save_safetensors(out, dst)
    else:
        torch.save(out, dst)
    t3 = time.perf_counter()
    print(json.dumps({'loadMs': (t1 - t0) * 1e3, 'mergeMs': (t2 - t1) * 1e3, 'saveMs': (t3 - t2) * 1e3, 'tensorsOut': len(out), 'torch': torch.__version__}))


if __name__ == '__main__':
    main()
