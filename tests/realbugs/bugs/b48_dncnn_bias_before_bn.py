# Source: https://github.com/cszn/KAIR/issues/4
# Bug: a DnCNN denoiser builds conv layers with bias=True followed by BatchNorm in
#   its middle blocks; the bias is cancelled by the normalisation.
# Kind: bias-before-batchnorm
from torch import nn


class DnCNN(nn.Module):
    def __init__(self, in_nc=1, nc=32, depth=5):
        super().__init__()
        layers = [nn.Conv2d(in_nc, nc, 3, padding=1, bias=True), nn.ReLU(inplace=True)]
        for _ in range(depth - 2):
            layers.append(nn.Conv2d(nc, nc, 3, padding=1, bias=True))  # expect: NNL403
            layers.append(nn.BatchNorm2d(nc, momentum=0.9, eps=1e-04))
            layers.append(nn.ReLU(inplace=True))
        layers.append(nn.Conv2d(nc, in_nc, 3, padding=1, bias=True))
        self.model = nn.Sequential(*layers)

    def forward(self, x):
        return x - self.model(x)
