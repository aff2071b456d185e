# Source: https://github.com/AngelaZZZ-611/reasoning_models_probing/issues/1
# Bug: a probe's training script applies sigmoid to the classifier output before
#   nn.BCEWithLogitsLoss, which applies sigmoid itself.
# Kind: sigmoid-before-bce-with-logits
import torch
from torch import nn


def train_probe(hidden_states, labels, epochs=20):
    classifier = nn.Linear(hidden_states.shape[-1], 1)
    criterion = nn.BCEWithLogitsLoss()
    optimizer = torch.optim.AdamW(classifier.parameters(), lr=1e-3)
    for _ in range(epochs):
        outputs = torch.sigmoid(classifier(hidden_states)).squeeze(-1)  # expect: NNL105
        loss = criterion(outputs, labels.float())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return classifier
