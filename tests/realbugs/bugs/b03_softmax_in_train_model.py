# Source: https://github.com/sugi-chan/custom_bert_pipeline/issues/1
# Bug: the training loop of a text classifier applies softmax to the model output
#   and then calls the CrossEntropyLoss criterion passed in as an argument.
# Kind: softmax-before-cross-entropy
import torch
import torch.nn.functional as F
from torch import nn


def train_model(model, criterion, optimizer, loader, epochs=3):
    for _ in range(epochs):
        for tokens, labels in loader:
            optimizer.zero_grad()
            outputs = F.softmax(model(tokens), dim=1)  # expect: NNL101
            loss = criterion(outputs, labels)
            loss.backward()
            optimizer.step()


def main(model, loader):
    criterion = nn.CrossEntropyLoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-5)
    train_model(model, criterion, optimizer, loader)
