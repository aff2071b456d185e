# Source: https://github.com/open-mmlab/mmdetection/issues/472
# Near-miss: a ResNet stage is built in a local Python list that is wrapped into
#   nn.Sequential before it is stored, so every layer is registered.
from torch import nn


def make_res_layer(inplanes, planes, blocks):
    layers = []
    for i in range(blocks):
        layers.append(nn.Conv2d(inplanes if i == 0 else planes, planes, 3, padding=1))
        layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class Backbone(nn.Module):
    def __init__(self, stages=(2, 2)):
        super().__init__()
        self.res_layers = []
        inplanes = 3
        for i, blocks in enumerate(stages):
            name = f"layer{i + 1}"
            self.add_module(name, make_res_layer(inplanes, 16 * (i + 1), blocks))
            self.res_layers.append(name)
            inplanes = 16 * (i + 1)

    def forward(self, x):
        for name in self.res_layers:
            x = getattr(self, name)(x)
        return x
