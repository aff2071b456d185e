# Source: https://github.com/TransformerLensOrg/TransformerLens/issues/672
# Bug: a hook point switched from register_full_backward_hook to
#   register_backward_hook; user backward hooks then fail or see wrong gradients.
# Kind: register-backward-hook
from torch import nn


class HookPoint(nn.Module):
    def __init__(self):
        super().__init__()
        self.handles = []

    def add_hook(self, hook, direction="fwd"):
        def wrapped(module, module_input, module_output):
            return hook(module_output[0], hook=self)

        if direction == "fwd":
            handle = self.register_forward_hook(wrapped)
        else:
            handle = self.register_backward_hook(wrapped)  # expect: NNL501
        self.handles.append(handle)

    def forward(self, x):
        return x
