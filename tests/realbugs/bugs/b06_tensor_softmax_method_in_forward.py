# Source: https://github.com/lansinuote/Huggingface_Toturials/issues/6
# Bug: a sentence classifier calls out.softmax(dim=1) at the end of forward; the
#   training loop at module level uses torch.nn.CrossEntropyLoss on it.
# Kind: softmax-before-cross-entropy
import torch


class Model(torch.nn.Module):
    def __init__(self, hidden=48, classes=2):
        super().__init__()
        self.encoder = torch.nn.GRU(hidden, hidden, batch_first=True)
        self.fc = torch.nn.Linear(hidden, classes)

    def forward(self, embedded):
        out, _ = self.encoder(embedded)
        out = self.fc(out[:, 0])
        out = out.softmax(dim=1)  # expect: NNL101
        return out


model = Model()
optimizer = torch.optim.AdamW(model.parameters(), lr=5e-4)
criterion = torch.nn.CrossEntropyLoss()


def train_step(embedded, labels):
    out = model(embedded)
    loss = criterion(out, labels)
    loss.backward()
    optimizer.step()
    optimizer.zero_grad()
    return loss
