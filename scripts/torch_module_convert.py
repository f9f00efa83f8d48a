#!/usr/bin/python3
# The usual PyTorch way to convert a RepVGG checkpoint, for the benchmark to compare against: build the
# training model as nn.Modules (a 3x3 conv+BN, a 1x1 conv+BN and an identity BN per block, as the official
# layout names them), load the state dict, deep-copy the model, switch every block to its deploy form
# (one 3x3 conv with bias), and torch.save the deploy state dict. No check of the result. Written here
# from the RepVGG paper's description; the block layout is read from the checkpoint's keys and shapes.
#   python3 scripts/torch_module_convert.py train.pth deploy.pth
import copy
import json
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class ConvBN(nn.Module):
    def __init__(self, cin, cout, k, stride, groups):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(cout)


class Block(nn.Module):
    def __init__(self, cin, cout, stride, groups, identity):
        super().__init__()
        self.rbr_dense = ConvBN(cin, cout, 3, stride, groups)
        self.rbr_1x1 = ConvBN(cin, cout, 1, stride, groups)
        self.rbr_identity = nn.BatchNorm2d(cout) if identity else None
        self.groups = groups

    def forward(self, x):
        if hasattr(self, 'rbr_reparam'):
            return F.relu(self.rbr_reparam(x))
        y = self.rbr_dense.bn(self.rbr_dense.conv(x)) + self.rbr_1x1.bn(self.rbr_1x1.conv(x))
        return F.relu(y if self.rbr_identity is None else y + self.rbr_identity(x))

    @staticmethod
    def fold(kernel, bn):
        std = (bn.running_var + bn.eps).sqrt()
        return kernel * (bn.weight / std).reshape(-1, 1, 1, 1), bn.bias - bn.running_mean * bn.weight / std

    def switch_to_deploy(self):
        k3, b3 = self.fold(self.rbr_dense.conv.weight, self.rbr_dense.bn)
        k1, b1 = self.fold(self.rbr_1x1.conv.weight, self.rbr_1x1.bn)
        kernel, bias = k3 + F.pad(k1, [1, 1, 1, 1]), b3 + b1
        if self.rbr_identity is not None:
            cout, per_group = kernel.shape[0], kernel.shape[1]
            ident = torch.zeros_like(kernel)
            idx = torch.arange(cout)
            ident[idx, idx % per_group, 1, 1] = 1
            ki, bi = self.fold(ident, self.rbr_identity)
            kernel, bias = kernel + ki, bias + bi
        conv = self.rbr_dense.conv
        self.rbr_reparam = nn.Conv2d(conv.in_channels, conv.out_channels, 3, conv.stride, 1, groups=conv.groups, bias=True)
        self.rbr_reparam.weight.data, self.rbr_reparam.bias.data = kernel, bias
        for name in ('rbr_dense', 'rbr_1x1', 'rbr_identity'):
            delattr(self, name)


class Model(nn.Module):
    """The blocks named as in the checkpoint (stage0, stage1.0, ...) and a linear head."""

    def __init__(self, sd):
        super().__init__()
        blocks = [k[: -len('.rbr_dense.conv.weight')] for k in sd if k.endswith('.rbr_dense.conv.weight')]
        self.names = blocks
        self.blocks = nn.ModuleDict()
        for b in blocks:
            w = sd[b + '.rbr_dense.conv.weight']
            cout, per_group = w.shape[0], w.shape[1]
            identity = b + '.rbr_identity.running_var' in sd
            # The identity branch needs in = out; without it, the block is the first of its stage (stride 2).
            cin = cout if identity else per_group
            stride = 1 if identity else 2
            self.blocks[b.replace('.', '_')] = Block(cin, cout, stride, cin // per_group if identity else 1, identity)
        self.linear = nn.Linear(sd['linear.weight'].shape[1], sd['linear.weight'].shape[0])

    def state_dict_keys(self, sd):
        """Renames the checkpoint's keys to this module tree's (dots in block names became underscores)."""
        out = {}
        for k, v in sd.items():
            for b in self.names:
                if k.startswith(b + '.'):
                    k = 'blocks.' + b.replace('.', '_') + k[len(b):]
                    break
            out[k] = v
        return out


def main():
    src, dst = sys.argv[1:3]
    t0 = time.perf_counter()
    sd = torch.load(src, map_location='cpu')
    model = Model(sd)
    model.load_state_dict(model.state_dict_keys(sd))
    model.eval()
    t1 = time.perf_counter()
    deploy = copy.deepcopy(model)
    with torch.no_grad():
        for m in deploy.modules():
            if isinstance(m, Block):
                m.switch_to_deploy()
    t2 = time.perf_counter()
    torch.save(deploy.state_dict(), dst)
    t3 = time.perf_counter()
    print(json.dumps({'loadMs': (t1 - t0) * 1e3, 'mergeMs': (t2 - t1) * 1e3, 'saveMs': (t3 - t2) * 1e3, 'torch': torch.__version__}))


if __name__ == '__main__':
    main()
