# Source: https://github.com/amdegroot/ssd.pytorch/issues/104
# Bug: an SSD detector builds nn.Softmax() without dim and applies it to the class
#   confidences at test time (fixed by passing dim).
# Kind: softmax-without-dim
from torch import nn


class SSDHead(nn.Module):
    def __init__(self, channels=32, classes=21):
        super().__init__()
        self.num_classes = classes
        self.conf = nn.Conv2d(channels, 4 * classes, 3, padding=1)
        self.softmax = nn.Softmax()  # expect: NNL108

    def forward(self, x):
        conf = self.conf(x).permute(0, 2, 3, 1).contiguous()
        return self.softmax(conf.view(-1, self.num_classes))
