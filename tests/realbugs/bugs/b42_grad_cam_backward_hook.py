# Source: https://github.com/jacobgil/pytorch-grad-cam/pull/70
# Bug: Grad-CAM collects gradients of a target layer with register_backward_hook;
#   on a whole ResNet block the hook sees the wrong gradients.
# Kind: register-backward-hook
class ActivationsAndGradients:
    def __init__(self, model, target_layer):
        self.model = model
        self.gradients = []
        self.activations = []
        target_layer.register_forward_hook(self.save_activation)
        target_layer.register_backward_hook(self.save_gradient)  # expect: NNL501

    def save_activation(self, module, input, output):
        self.activations.append(output.detach())

    def save_gradient(self, module, grad_input, grad_output):
        self.gradients = [grad_output[0].detach()] + self.gradients

    def __call__(self, x):
        self.gradients, self.activations = [], []
        return self.model(x)
