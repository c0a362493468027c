"""Deeper hints of the exercises, by cell id and level: written by the build from the
``### HINT n:`` lines of ``solutions/*.py``; edit those, not this file."""

HINTS: dict[str, dict[int, list[str]]] = {'ex-autoencoder': {2: ['The listed layers go into two nn.Sequential stacks, encoder and decoder; the only '
                        'asymmetry is the last activation. If the check says the codes are never negative, '
                        "look at what follows the encoder's last linear layer.",
                        'One call: the encoder stack already flattens the images.',
                        'The decoder gives one long vector per image; the rest of the course expects images '
                        'with a channel axis, shaped like the input. Let the batch size be inferred rather '
                        'than written in.']},
 'ex-causal-mask': {2: ['Draw a 5 x 5 mask on paper for each type first; the only difference between A and B '
                        'is one entry, the centre. Rows below the centre are always hidden.']},
 'ex-clip-weights': {2: ['The constraint is a box on every parameter, biases included. Change the values in '
                         'place, outside autograd; building new tensors would cut the parameters from the '
                         'optimiser.']},
 'ex-critic-losses': {2: ['The critic wants real scores high and fake scores low, and an optimiser '
                          'minimises: the loss is the gap in the direction the critic wants to shrink.',
                          'The generator wants the critic to score its samples high; the optimiser '
                          'minimises.']},
 'ex-cycle-loss': {2: ['Each round trip applies one translator and then the other, in the order that brings '
                       'a sample home; compare with the start by the mean absolute error. Mind the order: G '
                       'sends X to Y.']},
 'ex-cyclegan-update': {2: ["The generators' loss also leaves gradients on the discriminators, so clear "
                            "those before the discriminators' backward pass. Make the fakes for the "
                            "discriminators inside torch.no_grad(), after opt_G's step; G(x) belongs to Y "
                            'and goes to buffer_Y, F_(y) to buffer_X. Least squares: (score - 1) squared for '
                            'real images, score squared for fakes, each a batch mean.']},
 'ex-discriminator-loss': {2: ['The softplus identities turn each log of a sigmoid into something finite for '
                               'any logit; which sign goes with real and which with fake follows from the '
                               'labels 1 and 0. Test your loss on logits of 0: it must give 2 log 2.']},
 'ex-gan-step': {2: ["Three slips are common: letting the discriminator's step reach the generator, scoring "
                     "the fakes for the generator's step with the discriminator from before its update, and "
                     'forgetting to clear gradients before a backward pass.']},
 'ex-gated-layer': {2: ['The class bias comes per image and per channel of a; it must broadcast over the '
                        'pixels, so it needs two singleton axes at the end.',
                        'Work out, on paper, which output rows a convolution padded on both sides produces '
                        'beyond the image: the extra ones are at the bottom for the vertical stack and on '
                        'the right for the horizontal one. Shifting by one means padding one row (or column) '
                        'at the start and cutting back to the image size.']},
 'ex-gaussian-kl': {2: ['Write the closed form for one dimension first and check it on mu = 0, log_var = 0, '
                        'where the KL must be 0. Then the reduction: a sum over the latent dimensions only, '
                        'keeping the batch axis.']},
 'ex-generator-loss': {2: ['Both losses are written from the fake logits alone. The saturating one is log(1 '
                           '- D), minimised, so its value is negative; the non-saturating one is -log D. '
                           'Check both at a logit of -100: finite values, and a gradient near 0 for the '
                           'saturating loss only.']},
 'ex-generator-objective': {2: ['Least squares: each generator wants the discriminator of its output domain '
                                "to say 1 for its fakes. Which discriminator judges G's output? Reuse your "
                                'cycle and identity losses with their weights.']},
 'ex-gradient-penalty': {2: ['Three pitfalls: one mixing weight per sample (not per coordinate), created on '
                             "the data's device; the points between real and fake must require gradients "
                             'before the critic sees them; and the gradient must keep its graph, or the '
                             'penalty cannot train the critic.']},
 'ex-gumbel-softmax': {2: ['Gumbel noise is minus the log of minus the log of a uniform, so the uniform must '
                           'stay away from 0. For the hard sample, the straight-through trick takes its '
                           'value from the one-hot vector and its gradient from the relaxed sample.']},
 'ex-identity-loss': {2: ['Feed each translator an image that already lies in its output domain; it should '
                          'hand it back unchanged.']},
 'ex-image-buffer': {2: ['Return one image for every image given. The pool keeps receiving new images after '
                         'it is full: a returned old image is replaced by the new one. Store images cut from '
                         "the generator's graph."]},
 'ex-iwae-bound': {2: ['Exponentiating log-weights of -1000 underflows to 0. The identity log mean exp(a) = '
                       'logsumexp(a) - log K keeps everything in log space; reduce over the axis that holds '
                       'the K samples.']},
 'ex-label-subset': {2: ['Two pitfalls: a generator created but not passed to the random call (the subset '
                         'then changes from run to run), and drawing from the whole label set instead of '
                         "from one class's indices at a time."]},
 'ex-masked-conv': {2: ['Two slips: masking the weight once in __init__ (an optimiser step then refills the '
                        "hidden entries) and dropping the layer's bias or padding by calling the functional "
                        'convolution without them.']},
 'ex-modes-captured': {2: ['Each sample belongs to its nearest mode only, and counts only if it lies within '
                           'threshold standard deviations of it. Modes with no sample must still appear in '
                           'the count (with zero).']},
 'ex-negative-elbo': {2: ['Two reductions happen, in this order: over the pixels of an image (a sum: the '
                          'log-likelihood of the whole image) and over the batch (a mean). Averaging over '
                          'pixels is the most common slip, and so is a KL averaged rather than summed over '
                          'dimensions.']},
 'ex-output-sizes': {2: ['Padding adds p on both sides, so the padded length is i + 2p; the first window '
                         'starts at 0, the last one must end inside. Integer division by the stride counts '
                         'the steps, plus the first window.',
                         'Careful with the names: here i is the size going into the transposed convolution, '
                         "which is the size coming out of the matching convolution. Undo the convolution's "
                         'formula for its input, ignoring the rounding.']},
 'ex-pixel-nll': {2: ['The cross-entropy of torch expects the class axis second and integer targets without '
                      "a channel axis. Add up over each image's pixels (its log-likelihood), one value per "
                      'image.',
                      'Nats are natural logarithms, bits base-2 ones; the number of dimensions is the number '
                      'of pixels.']},
 'ex-probe-accuracy': {2: ['A common leak: fitting the standardisation on all the features, or on the test '
                           'ones. Whatever learns statistics must see only the training features; the test '
                           'features are only transformed and scored.']},
 'ex-reconstruction-loss': {2: ['Check the shape of what you return: one number for the whole batch. The '
                                'usual slip is averaging over the pixels too, which divides the loss by the '
                                'number of pixels and changes what the optimiser balances.']},
 'ex-reparameterize': {2: ['The network predicts the log of the variance, so the standard deviation is the '
                           'square root of its exponential. The noise needs its own value for every example '
                           'and every latent dimension.']},
 'ex-sample': {2: ['Pixels before start must stay as given. Each pixel needs the model run again, because '
                   'its distribution depends on the pixels just drawn. Draw with the generator you are given '
                   '(it lives on the CPU, so the probabilities must too), and write each draw back into the '
                   'images before the next pixel.']},
 'ex-vae-model': {2: ["As in lesson 01, with two differences: the encoder's last linear layer has 2 * "
                      "d_latent outputs, and the decoder's last linear layer has no sigmoid after it.",
                      'The encoder gives 2k numbers per image; the first k are the mean, the last k the '
                      'log-variance. Split along the feature axis, not the batch axis.',
                      'Undo the flattening of the encoder: the batch size stays free, the rest is '
                      'image_shape.',
                      'Three things go wrong most often: sampling even when deterministic is set, passing '
                      'probabilities where negative_elbo wants logits, and forgetting beta. The code must '
                      'stay a differentiable function of mu and log_var, which your reparameterisation '
                      'guarantees.']},
 'ex-wasserstein-1d': {2: ['The optimal plan in 1D pairs values in sorted order; W1 is the average distance '
                           'between partners, not the distance between the means.']},
 'ex-wgan-step': {2: ["A tensor's chunk method cuts it into equal slices along the batch axis. Per critic "
                      'step, the generated points are detached from G; the W estimate is the negative of the '
                      'critic loss before the penalty is added, as a number; each optimiser clears its '
                      "gradients before its own backward pass; clipping follows the optimiser's step. The "
                      "generator's step scores G of the last noise slice with the critic as it is after its "
                      'last update.']}}
