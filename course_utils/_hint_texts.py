"""Deeper hints of the exercises, by cell id and level: written by the build from the
``### HINT n:`` lines of ``solutions/*.py``; edit those, not this file."""

HINTS: dict[str, dict[int, list[str]]] = {'ex-autoencoder': {2: ['Encoder: flatten, then linear d_in to d_hidden, ReLU, d_hidden to d_hidden, ReLU, '
                        'd_hidden to d_latent. Decoder: the same widths backwards, ReLU between layers and a '
                        'sigmoid at the very end. nn.Sequential holds each stack; d_in is the product of '
                        'image_shape.',
                        'One call: the encoder stack already flattens the images.',
                        'view or reshape with -1 for the batch and the three numbers of image_shape after '
                        'it.']},
 'ex-causal-mask': {2: ['Start from zeros of shape k x k; set to 1 every row above the centre row, and the '
                        "centre row's entries left of the centre column; for type B also the centre "
                        'itself.']},
 'ex-clip-weights': {2: ['Inside torch.no_grad(), loop over critic.parameters() and clamp each one in place '
                         '(the trailing-underscore version of clamp).']},
 'ex-critic-losses': {2: ['A mean over the fake scores minus a mean over the real ones.',
                          'Minus the mean of the fake scores.']},
 'ex-cycle-loss': {2: ['mean of |F_(G(x)) - x| plus mean of |G(F_(y)) - y|: each translator is applied to '
                       "the other's output."]},
 'ex-cyclegan-update': {2: ["The generators' loss also leaves gradients on the discriminators, so clear "
                            "those before the discriminators' backward pass. Make the fakes for the "
                            "discriminators inside torch.no_grad(), after opt_G's step; G(x) belongs to Y "
                            'and goes to buffer_Y, F_(y) to buffer_X. Least squares: (score - 1) squared for '
                            'real images, score squared for fakes, each a batch mean.']},
 'ex-discriminator-loss': {2: ['-log sigmoid(l) = softplus(-l) for the real logits, -log(1 - sigmoid(l)) = '
                               'softplus(l) for the fake ones; each term is a mean over its own batch, then '
                               'add them.']},
 'ex-gan-step': {2: ["Generate with G(z). The discriminator's loss takes D of the real batch and D of the "
                     'generated batch detached; zero, backward, step. Then call D on G(z) again (the '
                     "discriminator has changed) for the generator's loss; zero, backward, step. Return the "
                     'two losses with .item().']},
 'ex-gated-layer': {2: ['The class bias has shape (batch, channels): give it two new trailing axes so that '
                        'it broadcasts over rows and columns. chunk(2, dim=1) splits the channels.',
                        'Slicing keeps rows 0 to rows - 1 of the vertical output and columns 0 to cols - 1 '
                        'of the horizontal one. F.pad with (1, 0) adds one column on the left, with (0, 0, '
                        '1, 0) one row on top: pad, then cut back to the image size. The class bias is '
                        'self.embedding(y) when there is an embedding and a y.']},
 'ex-gaussian-kl': {2: ['Per dimension: 0.5 * (mu squared + exp(log_var) - 1 - log_var). Sum over the last '
                        'axis; do not average over dimensions or over the batch here.']},
 'ex-generator-loss': {2: ['Saturating: the generator minimises log(1 - D) = -softplus(l). Non-saturating: '
                           'it minimises -log D = softplus(-l). Average over the batch in both cases.']},
 'ex-generator-objective': {2: ['adversarial = mean of (D_Y(G(x)) - 1) squared + mean of (D_X(F_(y)) - 1) '
                                'squared; reuse cycle_loss and identity_loss; return a dict with the '
                                'weighted sum and the three terms.']},
 'ex-gradient-penalty': {2: ['t = torch.rand with shape (N, 1, ...) (one 1 per remaining axis); x_hat = t * '
                             'real + (1 - t) * fake, marked requires_grad; torch.autograd.grad of '
                             'critic(x_hat).sum() with respect to x_hat, with create_graph; flatten each '
                             'gradient, take its norm per row, subtract 1, square, mean.']},
 'ex-gumbel-softmax': {2: ['u = rand_like(logits) clamped away from 0; g is minus the log of minus the log '
                           'of u; add g to the logits, divide by tau, softmax over the last axis. Hard: the '
                           "one-hot vector of the argmax (F.one_hot, cast to y's dtype), plus y, minus y cut "
                           "from the graph: the value is one-hot, the gradient is y's (straight-through)."]},
 'ex-identity-loss': {2: ['mean of |G(y) - y| plus mean of |F_(x) - x|.']},
 'ex-image-buffer': {2: ['Loop over the images of the batch, detached. While fewer than size are stored, '
                         'append and return the image. Otherwise draw random.random(): below one half, pick '
                         'a random stored index, return a clone of the stored image and store the new one in '
                         'its place; else return the new image. Stack what you return.']},
 'ex-iwae-bound': {2: ['torch.logsumexp over the sample axis (axis 0) is log of the sum of exp, computed '
                       'stably; the average is the sum divided by K, so subtract log K (math.log).']},
 'ex-label-subset': {2: ['Make one torch.Generator seeded with seed; for each class value in '
                         'torch.unique(y), take the indices where y equals it, permute them with '
                         'torch.randperm(..., generator=...) and keep the first n_per_class; concatenate.']},
 'ex-masked-conv': {2: ['F.conv2d takes the input, a weight, a bias and the padding: multiply self.weight by '
                        'self.mask inside forward (not once in __init__), and pass self.bias and '
                        'self.padding.']},
 'ex-modes-captured': {2: ["torch.cdist gives every sample's distance to every mode; min over the modes "
                           'gives the nearest one and its distance. Keep the samples within threshold * std, '
                           'count them per mode (torch.bincount with minlength), and count the modes with at '
                           'least min_count.']},
 'ex-negative-elbo': {2: ['The binary cross-entropy of torch.nn.functional that takes logits, with reduction '
                          'none, gives one value per pixel: flatten each image, sum, then mean over the '
                          "batch. The KL is your function's output averaged over the batch. loss = recon + "
                          'beta * kl.']},
 'ex-output-sizes': {2: ['Padding adds p on both sides, so the padded length is i + 2p; the first window '
                         'starts at 0, the last one must end inside. Integer division by the stride counts '
                         'the steps, plus the first window.',
                         "Solve the convolution's formula for i, without the rounding: (output - 1) times "
                         'the stride, plus the kernel, minus the padding on both sides.']},
 'ex-pixel-nll': {2: ['F.cross_entropy takes logits of shape (N, L, H, W) and integer targets of shape (N, '
                      'H, W): drop the channel axis of x, ask for reduction none, flatten each image and '
                      'sum.',
                      'One bit is log(2) nats: divide by log 2, and by the number of dimensions.']},
 'ex-probe-accuracy': {2: ['scikit-learn: a pipeline of StandardScaler and LogisticRegression (raise '
                           'max_iter); fit it on the training features and labels as NumPy arrays, then '
                           'score on the test features. The pipeline fits the scaler on the training data '
                           'only.']},
 'ex-reconstruction-loss': {2: ['Subtract, square, then reduce in two steps: a sum over every axis but the '
                                'batch axis (flatten the image first), then a mean over the images. Use '
                                'torch only, no loops.']},
 'ex-reparameterize': {2: ['sigma = exp(log_var / 2); randn_like gives eps with the shape, dtype and device '
                           'of mu; z = mu + sigma * eps, elementwise.']},
 'ex-sample': {2: ['For i from start to rows * cols - 1, divmod(i, cols) gives the row and column; softmax '
                   "the model's logits at that pixel over the levels; torch.multinomial draws one level per "
                   'image (pass the generator; it wants CPU probabilities).']},
 'ex-vae-model': {2: ["As in lesson 01, with two differences: the encoder's last linear layer has 2 * "
                      "d_latent outputs, and the decoder's last linear layer has no sigmoid after it.",
                      'chunk(2, dim=-1) cuts a tensor into two equal halves along its last axis: the first '
                      'is mu, the second log_var.',
                      'view with -1 for the batch and image_shape after it, as in lesson 01.',
                      'Three things go wrong most often: sampling even when deterministic is set, passing '
                      'probabilities where negative_elbo wants logits, and forgetting beta. The code must '
                      'stay a differentiable function of mu and log_var, which your reparameterisation '
                      'guarantees.']},
 'ex-wasserstein-1d': {2: ['torch.sort(...).values sorts each sample; subtract, take the absolute value and '
                           'average.']},
 'ex-wgan-step': {2: ["A tensor's chunk method cuts it into equal slices along the batch axis. Per critic "
                      'step, the generated points are detached from G; the W estimate is the negative of the '
                      'critic loss before the penalty is added, as a number; each optimiser clears its '
                      "gradients before its own backward pass; clipping follows the optimiser's step. The "
                      "generator's step scores G of the last noise slice with the critic as it is after its "
                      'last update.']}}
