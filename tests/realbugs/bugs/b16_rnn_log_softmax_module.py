# Source: https://github.com/rasbt/machine-learning-book/issues/37
# Bug: a character RNN keeps an nn.LogSoftmax(dim=1) as its last layer and is
#   trained with nn.CrossEntropyLoss.
# Kind: log-softmax-before-cross-entropy
# Graph: make_model
import torch
from torch import nn


class CharRNN(nn.Module):
    def __init__(self, vocab=40, embed=16, hidden=32):
        super().__init__()
        self.embedding = nn.Embedding(vocab, embed)
        self.rnn = nn.LSTM(embed, hidden, batch_first=True)
        self.fc = nn.Linear(hidden, vocab)
        self.softmax = nn.LogSoftmax(dim=1)

    def forward(self, x):
        out, _ = self.rnn(self.embedding(x))
        out = self.fc(out[:, -1])
        return self.softmax(out)  # expect: NNL102  expect-fx: NNL610


def train(model, batches):
    loss_fn = nn.CrossEntropyLoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.005)
    for seq, target in batches:
        optimizer.zero_grad()
        loss = loss_fn(model(seq), target)
        loss.backward()
        optimizer.step()


def make_model():
    seq = torch.randint(0, 40, (2, 7))
    return CharRNN(), (seq, torch.tensor([3, 5])), nn.CrossEntropyLoss()
