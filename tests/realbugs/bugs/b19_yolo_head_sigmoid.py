# Source: https://github.com/argusswift/YOLOv4-pytorch/issues/89
# Bug: a detection head returns sigmoid-activated confidences; the loss computes
#   nn.BCEWithLogitsLoss on them (the maintainer moved the sigmoid to evaluation).
# Kind: sigmoid-before-bce-with-logits
import torch
from torch import nn


class YoloHead(nn.Module):
    def __init__(self, anchors=3, classes=4):
        super().__init__()
        self.anchors, self.classes = anchors, classes

    def forward(self, p):
        b, _, h, w = p.shape
        p = p.view(b, self.anchors, 5 + self.classes, h, w).permute(0, 1, 3, 4, 2)
        conf = torch.sigmoid(p[..., 4:5])  # expect: NNL105
        return p[..., :4], conf


class YoloLoss(nn.Module):
    def __init__(self):
        super().__init__()
        self.bce = nn.BCEWithLogitsLoss(reduction="none")

    def forward(self, conf, target_conf):
        return self.bce(conf, target_conf).sum()


class Detector(nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone = nn.Conv2d(3, 27, 3, padding=1)
        self.head = YoloHead()
        self.loss = YoloLoss()

    def forward(self, images, target_conf):
        boxes, conf = self.head(self.backbone(images))
        return self.loss(conf, target_conf)
