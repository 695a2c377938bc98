"""Follow the chain rule with real numbers: one training step of the tutorial's network, layer by layer.

Prints each layer's z, y = f(z), the gradient dy arriving from above,
dz = dy * f'(z), dW = x^T dz, db and the Adam update, for the first batch of
250 tutorial samples (docs/backprop.md#tracing-a-step). The model is left
unchanged. `npnet trace --compare-keras` prints the same and recomputes every
array with Keras (needs the reference extra).

Run: python examples/trace.py
"""
import npnet
from npnet import tutorial

npnet.utils.set_random_seed(tutorial.RANDOM_STATE)
data = tutorial.tutorial_data()
model = tutorial.tutorial_model()
trace = model.trace(data.x_train[:tutorial.BATCH_SIZE], data.y_train[:tutorial.BATCH_SIZE])
print(trace)
