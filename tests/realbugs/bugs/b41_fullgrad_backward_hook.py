# Source: https://github.com/idiap/fullgrad-saliency/issues/10
# Bug: a saliency extractor registers module.register_backward_hook, which misses
#   grad_input entries on modules with several autograd nodes.
# Kind: register-backward-hook
from torch import nn


class FullGradExtractor:
    def __init__(self, model):
        self.model = model
        self.feature_grads = []
        self.handles = []
        for m in model.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                handle = m.register_backward_hook(self._extract_layer_grads)  # expect: NNL501
                self.handles.append(handle)

    def _extract_layer_grads(self, module, in_grad, out_grad):
        self.feature_grads.append(out_grad[0])
