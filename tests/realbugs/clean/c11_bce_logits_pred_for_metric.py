# Source: https://github.com/polimi-ispl/icpr2020dfdc/issues/16
# Near-miss: a deepfake detector's training step computes BCEWithLogitsLoss on the
#   raw output and sigmoid(out) only for the accuracy it logs.
import torch
from torch import nn


def batch_forward(net, device, criterion, data, labels):
    data, labels = data.to(device), labels.to(device)
    out = net(data)
    pred = torch.sigmoid(out).detach()
    loss = criterion(out, labels)
    accuracy = ((pred > 0.5).float() == labels).float().mean()
    return loss, accuracy, pred


def main(net, loader):
    criterion = nn.BCEWithLogitsLoss()
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-5)
    for data, labels in loader:
        loss, _, _ = batch_forward(net, "cpu", criterion, data, labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
