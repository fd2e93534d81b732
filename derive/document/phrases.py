"""Every sentence of the printed derivation, in English and in Korean (the notes' own terms).

Sentences are LaTeX with %(name)s fields, filled by `derive.document.builder`; math inside them is the
same in both languages. Korean follows the seeds: 오차 역전파, 경사 하강법, 가중치, 편향, 학습률,
활성화 함수, 연쇄 법칙, 기울기 소실, 입력층/은닉층/출력층, 가중합, 델타.
"""

from __future__ import annotations

EN: dict[str, str] = {
    "doc_title": "Backpropagation, derived step by step",
    "network": "The network",
    "network_intro": (
        "The network has %(depth)s layers of weights; its layers have %(widths)s neurons. "
        "Figure~\\ref{fig:net} shows the neurons and weights, and Table~\\ref{tab:notation} lists "
        "each layer with its index letter and number of neurons, in the notation of the notes. "
        "A weight $%(w)s$ joins neuron $%(b)s$ of the layer below to neuron $%(a)s$ of the layer above."),
    "figure_caption": "The network; every neuron adds its weighted inputs and its bias, then applies its "
                      "activation function.",
    "figure_caption_big": "The network (%(notes)s).",
    "figure_wide": "wide layers drawn with a few neurons and $\\vdots$",
    "figure_deep": "hidden layers %(first)s to %(last)s left out, $\\cdots$",
    "figure_one_weight": "one weight of each layer labelled",
    "table_caption": "Layers, index letters and numbers of neurons.",
    "col_layer": "Layer", "col_index": "Index", "col_neurons": "Neurons", "col_width": "Here",
    "col_activation": "Activation",
    "input_layer": "input", "hidden_layer": "hidden %(l)s", "output_layer": "output",
    "forward": "Forward pass, loss and gradient descent",
    "forward_intro": "Each neuron forms the weighted sum of the outputs of the layer below plus its bias, "
                     "and passes it through its activation function:",
    "softmax_forward": "The softmax output normalises over the whole layer:",
    "loss_intro": "The loss of one sample compares the outputs with the targets $%(t)s$ (%(loss)s):",
    "objective_mean": "Over a batch of $N$ samples the objective is the mean of the samples' losses, "
                      "$\\frac{1}{N}\\sum_{s=1}^{N} %(E)s^{(s)}$, so every gradient below is averaged the same way.",
    "objective_sum": "Over a batch of $N$ samples the objective is the sum of the samples' losses, "
                     "$\\sum_{s=1}^{N} %(E)s^{(s)}$, so every gradient below is summed the same way.",
    "gd_intro_full_batch": "Gradient descent moves every weight and bias against its gradient, with a learning rate "
                   "$\\eta$; this spec trains with %(optimizer)s instead (Section~\\ref{sec:optimizer}), from the "
                   "same gradients:",
    "gd_intro": "Gradient descent moves every weight and bias against its gradient, with the learning rate "
                "$\\eta$ (here $\\eta = %(lr)s$):",
    "gd_after": "Everything that follows computes these gradients: first for the output layer, then, "
                "passing the error backwards, for each hidden layer (backpropagation).",
    "layer_output": "Output layer gradients (layer %(l)s, neurons $%(a)s$)",
    "layer_hidden": "Hidden layer %(l)s gradients (neurons $%(a)s$)",
    "weight_gradient": "Weight gradient",
    "chain_intro": "The weight $%(w)s$ reaches the loss only through the weighted sum $%(u)s$, so by the "
                   "chain rule",
    "linear_intro": "The second factor: $%(u)s$ is a sum over the neurons of the layer below, and "
                    "differentiating it term by term with respect to $%(w)s$, every term without $%(w)s$ "
                    "vanishes:",
    "delta_intro": "The first factor of \\eqref{%(chain)s} is the same for every weight into neuron $%(a)s$; "
                   "it is called the delta of the neuron and splits again by the chain rule:",
    "delta_intro_softmax": "The first factor of \\eqref{%(chain)s} is the delta of neuron $%(a)s$. With a "
                           "softmax output every $%(yr)s$ depends on $%(u)s$, so the chain rule sums over "
                           "the whole layer:",
    "loss_derivative_intro": "The loss is a sum over the output neurons, and only the term of neuron $%(a)s$ "
                             "contains $%(y)s$:",
    "loss_derivative_single": "Differentiating the loss with respect to the output:",
    "handed_intro": "For a hidden layer, $%(dEdy)s$ is the gradient handed down by the layer above, "
                    "equation~\\eqref{%(ref)s}:",
    "activation_intro": "The other factor is the derivative of the activation function (%(name)s, "
                        "Section~\\ref{%(sec)s}), written in the neuron's own output:",
    "activation_intro_u": "The other factor is the derivative of the activation function (%(name)s, "
                          "Section~\\ref{%(sec)s}):",
    "softmax_jacobian": "The softmax derivative, by the quotient rule on $%(yr)s = e^{%(ur)s} / \\sum e^{u}$, "
                        "has two cases, joined with the bracket $[r = k]$ (1 when true, else 0):",
    "softmax_sum": "Putting both into \\eqref{%(def)s} and summing over $%(r)s$:",
    "softmax_targets": "The targets of one sample sum to one, $%(sum)s = 1$, so",
    "delta_result": "Both factors together give the delta of this layer:",
    "delta_simplified": "which simplifies to",
    "weight_result": "With \\eqref{%(linear)s} and the delta, \\eqref{%(chain)s} becomes the weight gradient",
    "bias_gradient": "Bias gradient",
    "bias_intro": "The same chain for the bias; $%(b)s$ appears in $%(u)s$ with coefficient 1:",
    "bias_result": "so the bias gradient is the delta itself:",
    "handed_down": "Gradient handed to the layer below",
    "handed_down_intro": "The output $%(y)s$ of the layer below feeds every neuron of this layer, so the "
                         "chain rule adds up all of their paths:",
    "handed_down_local": "Each path goes through one weighted sum, differentiated term by term:",
    "handed_down_result": "so the gradient handed down is",
    "update_intro": "The update of this layer's parameters, by \\eqref{%(gd)s}:",
    "node_intro": "In the note's numbering of the neurons (seed 003), for the first weight of this layer:",
    "activations": "Activation functions and their derivatives",
    "act_definition": "Definition:",
    "act_steps": "Its derivative, one rule at a time:",
    "act_output_form": "Written in the output $y = %(f)s$, as the code uses it (no need to keep $u$):",
    "act_output_piecewise": "In the output $y = f(x)$ the same cases read",
    "act_no_output_form": "This derivative has no simpler form in the output $y$ alone, so it is evaluated "
                          "at the weighted sum $u$.",
    "act_max": "Where is the derivative largest? Setting the second derivative to zero,",
    "act_max_value": "so the largest slope is $%(f)s'(%(arg)s) = %(value)s%(approx)s$.",
    "act_max_numeric": "SymPy finds no closed form for this root, so it is located numerically; the largest "
                       "slope is",
    "act_grows": "The slope exceeds 1 there, so through many such layers a gradient can also grow.",
    "act_sigmoid_note": "(Read off a plot, this peak is sometimes quoted as ``about 0.3''; the exact value is "
                        "$1/4$.)",
    "act_vanishing": "Backpropagation multiplies the gradient by $f'(u) \\le %(value)s$ at every layer with "
                     "this activation, so through $L$ such layers it shrinks by up to $%(power_L)s$ "
                     "(for this network's $L = %(L)s$: $%(power)s$): the vanishing gradient problem.",
    "act_unbounded": "Its slope is unbounded: on the real line $%(f)s'(x)$ takes arbitrarily large values, so "
                     "no bound $f'(u) \\le c$ holds, and through layers with this activation a gradient can grow "
                     "without limit (the exploding gradient problem).",
    "act_supremum": "Its slope has no maximum: as $x \\to %(end)s$, $%(f)s'(x)$ approaches $%(value)s$ but never "
                    "reaches it, so $%(f)s'(x) < %(value)s$ everywhere.",
    "act_saturation": "So $f'(u) \\le 1$, with equality only at $u = %(arg)s$: for large $|u|$ the neuron "
                      "saturates and multiplies the gradient by almost 0, the vanishing gradient problem.",
    "act_no_vanishing": "Its slope is 1 for positive inputs, so the gradient passes through unchanged "
                        "wherever the neuron is active: no vanishing gradient there.",
    "act_plot": "The function (solid) and its derivative (dashed):",
    "softmax_note": "The softmax output is differentiated in its layer's section, "
                    "equation~\\eqref{%(ref)s}.",
    "rules": {
        "constant": "constant", "constant_times": "constant factor", "sum": "sum rule",
        "product": "product rule", "quotient": "quotient rule", "power": "power rule",
        "exp": "exponential", "function": "standard derivative", "piecewise": "piece by piece",
        "chain": "chain rule", "direct": "differentiate", "simplify": "simplify",
    },
    "optimizer": "Optimiser: the update rules",
    "opt_sgd": "The spec trains with plain stochastic gradient descent (SGD), learning rate $\\eta = %(lr)s$:",
    "opt_momentum": "The spec trains with momentum ($\\eta = %(lr)s$, $\\mu = %(momentum)s$); a velocity "
                    "$v$ per parameter, starting at 0:",
    "opt_nesterov": "The spec trains with Nesterov momentum ($\\eta = %(lr)s$, $\\mu = %(momentum)s$); the "
                    "gradient is taken at the look-ahead point, velocity $v$ starting at 0:",
    "opt_adagrad": "The spec trains with AdaGrad ($\\eta = %(lr)s$, $\\epsilon = %(eps)s$); $h$ accumulates "
                   "squared gradients from 0:",
    "opt_rmsprop": "The spec trains with RMSProp ($\\eta = %(lr)s$, $\\rho = %(rho)s$, $\\epsilon = %(eps)s$); "
                   "$h$ is a moving average of squared gradients from 0:",
    "opt_adam": "The spec trains with Adam ($\\eta = %(lr)s$, $\\beta_1 = %(beta1)s$, $\\beta_2 = %(beta2)s$, "
                "$\\epsilon = %(eps)s$); moments $m, v$ from 0, step $t = 1, 2, \\dots$:",
    "opt_lbfgs": "The spec trains with L-BFGS (history $m = %(history)s$), one step per epoch on all samples: a "
                 "quasi-Newton direction from the last $m$ steps $s_i$ and gradient changes $y_i$ (the two-loop "
                 "recursion, $H_0 = s^{\\top} y / y^{\\top} y$), then a step $t$ along it that meets the strong "
                 "Wolfe conditions ($c_1 = 10^{-4}$, $c_2 = 0.9$); $g$ is the gradient of the objective:",
    "opt_cg": "The spec trains with nonlinear conjugate gradient (Polak--Ribi\\`ere+), one step per epoch on all "
              "samples, each along the direction below with a step $t$ that meets the strong Wolfe conditions "
              "($c_1 = 10^{-4}$, $c_2 = 0.1$); $g$ is the gradient of the objective:",
    "opt_line_search_after": "Training stops when $\\max |g| \\le %(tol)s$ or no step lowers the objective.",
    "word_lbfgs": "L-BFGS", "word_cg": "conjugate gradient", "word_lm": "Levenberg--Marquardt",
    "opt_newton": "The spec trains with damped Newton ($\\lambda = %(damping)s$), one step per epoch on all "
                  "samples: $H$ is the Hessian of the objective, from the R-operator (formed up to %(max_size)s "
                  "parameters, else applied by truncated conjugate gradient, at most %(cg_iterations)s products):",
    "opt_newton_after": "$\\lambda$ falls tenfold after a step that lowers the objective and rises tenfold, the "
                        "system solved again, otherwise (and where $H + \\lambda I$ is not positive definite).",
    "opt_hf": "The spec trains with Hessian-free optimisation (Martens 2010; $\\lambda = %(damping)s$, at most "
              "%(cg_iterations)s conjugate-gradient steps), one step per epoch on all samples: $G = J^{\\top} H J$ is "
              "the Gauss--Newton matrix, used only through products:",
    "opt_hf_after": "$\\lambda$ grows by $3/2$ when $\\rho < 1/4$ and shrinks by $2/3$ when $\\rho > 3/4$; a step "
                    "that does not lower the objective is not taken.",
    "word_newton": "Newton's method", "word_hf": "Hessian-free optimisation",
    "opt_lm": "The spec trains with Levenberg--Marquardt ($\\mu = %(mu)s$, $\\mu_{\\mathrm{dec}} = %(mu_dec)s$, "
              "$\\mu_{\\mathrm{inc}} = %(mu_inc)s$, $\\mu_{\\max} = %(mu_max)s$, as MATLAB's \\texttt{trainlm}), one "
              "step per epoch on all samples. $J$ holds $\\partial y_o / \\partial \\theta$ for every sample and output "
              "$o$ (each output's $\\delta$ backpropagated on its own), $g$ the gradient of the sum over samples of the "
              "loss, and $H$ the loss's second derivative in the outputs:",
    "opt_lm_after": "$J^{\\top} H J$ is the Gauss--Newton matrix: the Hessian without the term in the outputs' second "
                    "derivatives. A small $\\mu$ gives Gauss--Newton's step, a large one a short gradient step. The "
                    "system is solved by Cholesky, never through an inverse.",
    "opt_elementwise": "All operations act element by element on each parameter array; $g$ is its gradient.",
    "matrix": "Matrix form over a batch",
    "matrix_intro": "The generated code computes the same formulas for a whole batch at once. Row $s$ of "
                    "$\\mathbf{Y}_l$ ($N \\times n_l$) holds the outputs of layer $l$ for sample $s$, "
                    "$\\mathbf{X} = \\mathbf{Y}_0$, $\\mathbf{W}_l$ is $n_{l-1} \\times n_l$ with "
                    "$\\mathbf{W}_l[j, k] = w_{jk}$, $\\mathbf{1}$ is a column of ones and $\\odot$ the "
                    "element-wise product.",
    "matrix_forward": "Forward pass:",
    "matrix_backward": "Backward pass, from the output layer down (the deltas $\\Delta_l$ are $N \\times n_l$):",
    "matrix_gradients": "Gradients of the batch objective (%(how)s over the batch):",
    "matrix_how_mean": "mean", "matrix_how_sum": "sum",
    "proof": "What was proven",
    "proof_intro": "The formulas above hold for any layer widths. To back them, the loss of a small "
                   "instance of the same network was built explicitly, differentiated directly with "
                   "SymPy for every parameter, and compared with the delta rule:",
    "proof_none": "No proof report was attached to this document.",
    "example": "Worked example",
    "example_intro": "One training step with numbers: a forward pass, the loss, the backward pass and the "
                     "update, computed with %(digits)s-digit arithmetic from the formulas above and "
                     "printed to 9 significant digits.",
    "example_drawn": "Values not given in the spec (%(names)s) are drawn with a fixed seed (%(seed)s), "
                     "rounded to two decimals.",
    "example_given": "All values come from the spec's \\texttt{[example]} table.",
    "example_undefined": "Some values fall outside the real domain of a function (such as the square root or the "
                         "logarithm of a negative number, or a division by zero): they are undefined, and so is "
                         "everything computed from them, printed as $\\mathrm{NaN}$ (not a number).",
    "ex_inputs": "Inputs and targets",
    "ex_forward": "Forward pass",
    "ex_forward_layer": "Layer %(l)s (%(name)s):",
    "ex_loss": "The loss of this sample:",
    "ex_backward": "Backward pass",
    "ex_backward_intro": "Output layer first; each delta from its formula in Section~\\ref{%(sec)s}.",
    "ex_chain": "For example, the weight $%(w)s$ by the chain rule, factor by factor:",
    "ex_params": "Gradients and updated parameters",
    "ex_params_intro_full_batch": "Each gradient from $%(dEdw)s$; the %(optimizer)s step of Section~\\ref{%(sec)s} "
                          "is taken on all samples at once, so no update from this sample alone is shown:",
    "ex_params_intro": "Each gradient from $%(dEdw)s$ and the update of Section~\\ref{%(sec)s} "
                       "(%(optimizer)s, $\\eta = %(lr)s$):",
    "ex_more": "\\dots\\ and %(n)s more",
    "col_neuron": "Neuron", "col_param": "Parameter", "col_value": "Value", "col_gradient": "Gradient",
    "col_updated": "Updated",
}

KO: dict[str, str] = {
    "doc_title": "오차 역전파의 단계별 유도",
    "network": "신경망",
    "network_intro": (
        "이 신경망에는 가중치를 가진 층이 %(depth)s개 있고, 각 층의 뉴런 수는 %(widths)s이다. "
        "그림~\\ref{fig:net}은 뉴런과 가중치를, 표~\\ref{tab:notation}은 각 층의 첨자와 뉴런 수를 "
        "노트의 표기법으로 보여 준다. 가중치 $%(w)s$는 아래층의 뉴런 $%(b)s$와 위층의 뉴런 $%(a)s$를 잇는다."),
    "figure_caption": "신경망. 각 뉴런은 입력에 가중치를 곱해 더하고 편향을 더한 뒤 활성화 함수를 적용한다.",
    "figure_caption_big": "신경망 (%(notes)s).",
    "figure_wide": "넓은 층은 뉴런 몇 개와 $\\vdots$로 그렸다",
    "figure_deep": "은닉층 %(first)s부터 %(last)s까지는 $\\cdots$로 줄였다",
    "figure_one_weight": "층마다 가중치 하나에 이름을 붙였다",
    "table_caption": "층, 첨자, 뉴런 수.",
    "col_layer": "층", "col_index": "첨자", "col_neurons": "뉴런 수", "col_width": "이 신경망",
    "col_activation": "활성화 함수",
    "input_layer": "입력층", "hidden_layer": "은닉층 %(l)s", "output_layer": "출력층",
    "forward": "순전파, 손실 함수, 경사 하강법",
    "forward_intro": "각 뉴런은 아래층 출력에 가중치를 곱해 더하고 편향을 더한 가중합을 구한 뒤, "
                     "활성화 함수에 넣는다:",
    "softmax_forward": "소프트맥스 출력은 층 전체로 정규화한다:",
    "loss_intro": "한 샘플의 손실 함수는 출력과 목표값 $%(t)s$를 비교한다 (%(loss)s):",
    "objective_mean": "$N$개 샘플의 배치에서 목적 함수는 샘플 손실의 평균 "
                      "$\\frac{1}{N}\\sum_{s=1}^{N} %(E)s^{(s)}$이므로, 아래의 모든 기울기도 같은 방식으로 평균한다.",
    "objective_sum": "$N$개 샘플의 배치에서 목적 함수는 샘플 손실의 합 "
                     "$\\sum_{s=1}^{N} %(E)s^{(s)}$이므로, 아래의 모든 기울기도 같은 방식으로 더한다.",
    "gd_intro_full_batch": "경사 하강법은 학습률 $\\eta$로 모든 가중치와 편향을 기울기의 반대 방향으로 수정한다. 이 "
                   "신경망은 대신 %(optimizer)s(\\ref{sec:optimizer}절)(으)로, 같은 기울기에서 학습한다:",
    "gd_intro": "경사 하강법은 학습률 $\\eta$ (여기서는 $\\eta = %(lr)s$)로 모든 가중치와 편향을 기울기의 "
                "반대 방향으로 조금씩 수정한다:",
    "gd_after": "아래에서는 이 기울기를 구한다. 먼저 출력층에서, 그다음 오차를 거꾸로 전파하면서 각 은닉층에서 "
                "구한다 (오차 역전파).",
    "layer_output": "출력층 기울기 (층 %(l)s, 뉴런 $%(a)s$)",
    "layer_hidden": "은닉층 %(l)s의 기울기 (뉴런 $%(a)s$)",
    "weight_gradient": "가중치 기울기",
    "chain_intro": "가중치 $%(w)s$는 가중합 $%(u)s$를 통해서만 오차에 영향을 주므로, 연쇄 법칙에 의해",
    "linear_intro": "우변의 두 번째 인수: $%(u)s$는 아래층 뉴런들에 대한 합이고, $%(w)s$로 항별로 편미분하면 "
                    "$%(w)s$가 없는 항은 모두 0이 된다:",
    "delta_intro": "식 \\eqref{%(chain)s}의 첫 번째 인수는 뉴런 $%(a)s$로 들어오는 모든 가중치에 공통이며, "
                   "이를 뉴런의 델타라고 한다. 연쇄 법칙으로 다시 나누면",
    "delta_intro_softmax": "식 \\eqref{%(chain)s}의 첫 번째 인수가 뉴런 $%(a)s$의 델타이다. 소프트맥스 출력에서는 "
                           "모든 $%(yr)s$가 $%(u)s$에 의존하므로 연쇄 법칙이 층 전체에 대한 합이 된다:",
    "loss_derivative_intro": "손실 함수는 출력 뉴런들에 대한 합이고, $%(y)s$를 포함하는 것은 뉴런 $%(a)s$의 항뿐이다:",
    "loss_derivative_single": "손실 함수를 출력으로 미분하면",
    "handed_intro": "은닉층에서 $%(dEdy)s$는 위층이 넘겨준 기울기, 식~\\eqref{%(ref)s}이다:",
    "activation_intro": "다른 인수는 활성화 함수(%(name)s, \\ref{%(sec)s}절)의 미분이며, 뉴런 자신의 출력으로 쓴다:",
    "activation_intro_u": "다른 인수는 활성화 함수(%(name)s, \\ref{%(sec)s}절)의 미분이다:",
    "softmax_jacobian": "소프트맥스의 미분은 $%(yr)s = e^{%(ur)s} / \\sum e^{u}$에 몫의 법칙을 적용하면 두 경우로 "
                        "나뉘고, 괄호 $[r = k]$ (참이면 1, 아니면 0)로 합쳐 쓸 수 있다:",
    "softmax_sum": "두 식을 \\eqref{%(def)s}에 넣고 $%(r)s$에 대해 더하면",
    "softmax_targets": "한 샘플의 목표값은 합이 1이므로 ($%(sum)s = 1$)",
    "delta_result": "두 인수를 합치면 이 층의 델타가 된다:",
    "delta_simplified": "정리하면",
    "weight_result": "식 \\eqref{%(linear)s}와 델타로 식 \\eqref{%(chain)s}는 다음 가중치 기울기가 된다:",
    "bias_gradient": "편향 기울기",
    "bias_intro": "편향도 같은 연쇄 법칙을 따른다. $%(b)s$는 $%(u)s$에 계수 1로 들어 있다:",
    "bias_result": "따라서 편향 기울기는 델타와 같다:",
    "handed_down": "아래층으로 넘겨주는 입력값 기울기",
    "handed_down_intro": "아래층의 출력 $%(y)s$는 이 층의 모든 뉴런에 영향을 주므로, 연쇄 법칙에 의해 "
                         "모든 경로를 더한다:",
    "handed_down_local": "각 경로는 가중합 하나를 지나며, 항별로 편미분하면",
    "handed_down_result": "따라서 아래층으로 넘겨주는 기울기는",
    "update_intro": "이 층의 파라미터 수정은 식 \\eqref{%(gd)s}에 따라",
    "node_intro": "노트(seed 003)의 뉴런 번호로 쓰면, 이 층의 첫 번째 가중치에 대해",
    "activations": "활성화 함수와 그 미분",
    "act_definition": "정의:",
    "act_steps": "미분을 한 단계씩 구하면",
    "act_output_form": "출력 $y = %(f)s$로 쓰면 다음과 같다. 코드는 이 형태를 쓰므로 $u$를 저장할 필요가 없다:",
    "act_output_piecewise": "출력 $y = f(x)$로 쓰면 같은 경우가 다음과 같다:",
    "act_no_output_form": "이 미분은 출력 $y$만으로 더 간단히 쓸 수 없으므로 가중합 $u$에서 계산한다.",
    "act_max": "미분값이 가장 큰 곳은 어디인가? 이계도함수를 0으로 놓으면",
    "act_max_value": "따라서 가장 큰 기울기는 $%(f)s'(%(arg)s) = %(value)s%(approx)s$이다.",
    "act_max_numeric": "이 근은 SymPy가 닫힌 형태로 구하지 못하므로 수치적으로 구했다. 가장 큰 기울기는",
    "act_grows": "이 기울기는 1보다 크므로, 이런 층을 많이 지나면 기울기가 커질 수도 있다.",
    "act_sigmoid_note": "(그래프에서 읽어 ``0.3 정도''라고 적기도 하지만, 정확한 최대값은 $1/4$이다.)",
    "act_vanishing": "오차 역전파는 이 활성화 함수를 쓰는 층마다 기울기에 $f'(u) \\le %(value)s$를 곱하므로, "
                     "그런 층을 $L$개 지나면 기울기가 최대 $%(power_L)s$배로 줄어든다 "
                     "(이 신경망의 $L = %(L)s$이면 $%(power)s$). 이것이 기울기 소실 문제이다.",
    "act_unbounded": "이 기울기에는 상한이 없다. 실수 전체에서 $%(f)s'(x)$는 얼마든지 커질 수 있으므로 "
                     "$f'(u) \\le c$ 꼴의 한계가 없고, 이 활성화 함수를 쓰는 층을 지나면 기울기가 한없이 커질 수 있다 "
                     "(기울기 폭주).",
    "act_supremum": "이 미분값에는 최대값이 없다. $x \\to %(end)s$일 때 $%(f)s'(x)$는 $%(value)s$에 가까워지지만 "
                    "도달하지는 않으므로, 모든 곳에서 $%(f)s'(x) < %(value)s$이다.",
    "act_saturation": "즉 $f'(u) \\le 1$이고 등호는 $u = %(arg)s$에서만 성립한다. $|u|$가 크면 뉴런이 포화되어 "
                      "기울기에 거의 0을 곱하게 되므로 기울기 소실이 생긴다.",
    "act_no_vanishing": "양수 입력에서 기울기가 1이므로, 뉴런이 활성인 곳에서는 기울기가 그대로 전달되어 "
                        "기울기 소실이 생기지 않는다.",
    "act_plot": "함수(실선)와 그 미분(점선):",
    "softmax_note": "소프트맥스 출력의 미분은 해당 층의 절, 식~\\eqref{%(ref)s}에서 구했다.",
    "rules": {
        "constant": "상수", "constant_times": "상수배", "sum": "합의 법칙", "product": "곱의 법칙",
        "quotient": "몫의 법칙", "power": "거듭제곱 법칙", "exp": "지수함수의 미분",
        "function": "기본 도함수", "piecewise": "구간별 미분", "chain": "연쇄 법칙", "direct": "미분",
        "simplify": "정리",
    },
    "optimizer": "최적화 알고리즘: 수정 규칙",
    "opt_sgd": "이 신경망은 확률적 경사 하강법(SGD)으로 학습한다. 학습률 $\\eta = %(lr)s$:",
    "opt_momentum": "이 신경망은 모멘텀으로 학습한다 ($\\eta = %(lr)s$, $\\mu = %(momentum)s$). "
                    "파라미터마다 속도 $v$를 0에서 시작한다:",
    "opt_nesterov": "이 신경망은 네스테로프 모멘텀으로 학습한다 ($\\eta = %(lr)s$, $\\mu = %(momentum)s$). "
                    "기울기는 앞을 내다본 지점에서 구하고, 속도 $v$는 0에서 시작한다:",
    "opt_adagrad": "이 신경망은 AdaGrad로 학습한다 ($\\eta = %(lr)s$, $\\epsilon = %(eps)s$). "
                   "$h$는 0에서 시작해 기울기의 제곱을 누적한다:",
    "opt_rmsprop": "이 신경망은 RMSProp으로 학습한다 ($\\eta = %(lr)s$, $\\rho = %(rho)s$, "
                   "$\\epsilon = %(eps)s$). $h$는 0에서 시작하는 기울기 제곱의 이동 평균이다:",
    "opt_adam": "이 신경망은 Adam으로 학습한다 ($\\eta = %(lr)s$, $\\beta_1 = %(beta1)s$, "
                "$\\beta_2 = %(beta2)s$, $\\epsilon = %(eps)s$). 모멘트 $m, v$는 0에서, 단계 $t = 1, 2, \\dots$:",
    "opt_lbfgs": "이 신경망은 L-BFGS(기억 $m = %(history)s$)로 학습한다. 에포크마다 모든 샘플로 한 단계를 밟는다. "
                 "최근 $m$개의 단계 $s_i$와 기울기 변화 $y_i$로 준뉴턴 방향을 구하고(두 고리 재귀, "
                 "$H_0 = s^{\\top} y / y^{\\top} y$), 그 방향으로 강한 울프 조건($c_1 = 10^{-4}$, $c_2 = 0.9$)을 "
                 "만족하는 보폭 $t$를 찾는다. $g$는 목적 함수의 기울기이다:",
    "opt_cg": "이 신경망은 비선형 켤레 기울기법(폴락-리비에르+)으로 학습한다. 에포크마다 모든 샘플로, 아래 방향을 "
              "따라 강한 울프 조건($c_1 = 10^{-4}$, $c_2 = 0.1$)을 만족하는 보폭 $t$만큼 한 단계를 밟는다. $g$는 "
              "목적 함수의 기울기이다:",
    "opt_line_search_after": "$\\max |g| \\le %(tol)s$이거나 목적 함수를 낮추는 단계가 없으면 학습을 멈춘다.",
    "word_lbfgs": "L-BFGS", "word_cg": "켤레 기울기법", "word_lm": "레벤버그-마쿼트 방법",
    "opt_newton": "이 신경망은 감쇠 뉴턴법($\\lambda = %(damping)s$)으로 학습한다. 에포크마다 모든 샘플로 한 "
                  "단계를 밟는다. $H$는 R-연산자로 구한 목적 함수의 헤세 행렬이다(파라미터 %(max_size)s개까지는 "
                  "행렬로 만들고, 그보다 많으면 절단 켤레 기울기법으로 곱만 쓴다, 최대 %(cg_iterations)s번):",
    "opt_newton_after": "목적 함수를 낮춘 단계 뒤에는 $\\lambda$를 10분의 1로 줄이고, 그렇지 않으면(또는 "
                        "$H + \\lambda I$가 양의 정부호가 아니면) 10배로 늘려 다시 푼다.",
    "opt_hf": "이 신경망은 헤세 행렬 없는 최적화(Martens 2010; $\\lambda = %(damping)s$, 켤레 기울기 단계 최대 "
              "%(cg_iterations)s번)로 학습한다. 에포크마다 모든 샘플로 한 단계를 밟는다. $G = J^{\\top} H J$는 "
              "가우스-뉴턴 행렬이며 곱으로만 쓴다:",
    "opt_hf_after": "$\\rho < 1/4$이면 $\\lambda$를 $3/2$배, $\\rho > 3/4$이면 $2/3$배로 바꾼다. 목적 함수를 낮추지 "
                    "않는 단계는 밟지 않는다.",
    "word_newton": "뉴턴법", "word_hf": "헤세 행렬 없는 최적화",
    "opt_lm": "이 신경망은 레벤버그-마쿼트 방법으로 학습한다 ($\\mu = %(mu)s$, $\\mu_{\\mathrm{dec}} = %(mu_dec)s$, "
              "$\\mu_{\\mathrm{inc}} = %(mu_inc)s$, $\\mu_{\\max} = %(mu_max)s$, MATLAB의 \\texttt{trainlm}과 같다). 에포크마다 "
              "모든 샘플로 한 단계를 밟는다. $J$는 모든 샘플과 출력 $o$에 대한 $\\partial y_o / \\partial \\theta$ "
              "(출력마다 $\\delta$를 따로 역전파한다), $g$는 샘플에 대한 손실 합의 기울기, $H$는 출력에 대한 손실의 "
              "이계도함수이다:",
    "opt_lm_after": "$J^{\\top} H J$는 가우스-뉴턴 행렬, 곧 출력의 이계도함수 항을 뺀 헤세 행렬이다. $\\mu$가 작으면 "
                    "가우스-뉴턴 단계, 크면 짧은 경사 단계가 된다. 연립방정식은 역행렬 없이 숄레스키 분해로 푼다.",
    "opt_elementwise": "모든 연산은 파라미터 배열의 원소별로 이루어지고, $g$는 그 기울기이다.",
    "matrix": "배치에 대한 행렬 형태",
    "matrix_intro": "생성된 코드는 같은 식을 배치 전체에 대해 한 번에 계산한다. $\\mathbf{Y}_l$ "
                    "($N \\times n_l$)의 $s$번째 행은 샘플 $s$에 대한 층 $l$의 출력이고, "
                    "$\\mathbf{X} = \\mathbf{Y}_0$, $\\mathbf{W}_l$은 $n_{l-1} \\times n_l$ 행렬로 "
                    "$\\mathbf{W}_l[j, k] = w_{jk}$, $\\mathbf{1}$은 1로 된 열벡터, $\\odot$은 원소별 곱이다.",
    "matrix_forward": "순전파:",
    "matrix_backward": "역전파, 출력층부터 아래로 (델타 $\\Delta_l$은 $N \\times n_l$):",
    "matrix_gradients": "배치 목적 함수의 기울기 (배치에 대한 %(how)s):",
    "matrix_how_mean": "평균", "matrix_how_sum": "합",
    "proof": "증명된 것",
    "proof_intro": "위의 식은 층의 뉴런 수와 관계없이 성립한다. 이를 뒷받침하기 위해 같은 구조의 작은 신경망의 "
                   "손실 함수를 명시적으로 만들고, 모든 파라미터에 대해 SymPy로 직접 미분하여 델타 규칙과 비교했다:",
    "proof_none": "이 문서에는 증명 보고서가 붙어 있지 않다.",
    "example": "계산 예제",
    "example_intro": "숫자로 본 학습 한 단계: 순전파, 손실, 역전파, 파라미터 수정을 위의 식에서 %(digits)s자리 "
                     "정밀도로 계산하고 유효숫자 9자리로 적었다.",
    "example_drawn": "스펙에 주어지지 않은 값(%(names)s)은 고정된 시드(%(seed)s)로 뽑아 소수 둘째 자리로 반올림했다.",
    "example_given": "모든 값은 스펙의 \\texttt{[example]} 표에서 가져왔다.",
    "example_undefined": "일부 값이 함수의 실수 정의역을 벗어난다 (음수의 제곱근이나 로그, 0으로 나누기 등). 이런 값과 "
                         "그 값으로 계산한 모든 값은 정의되지 않으므로 $\\mathrm{NaN}$ (수가 아님)으로 적었다.",
    "ex_inputs": "입력과 목표값",
    "ex_forward": "순전파",
    "ex_forward_layer": "층 %(l)s (%(name)s):",
    "ex_loss": "이 샘플의 손실:",
    "ex_backward": "역전파",
    "ex_backward_intro": "출력층부터, 각 델타는 \\ref{%(sec)s}절의 식으로 계산한다.",
    "ex_chain": "예를 들어 가중치 $%(w)s$의 기울기를 연쇄 법칙으로 인수별로 계산하면",
    "ex_params": "기울기와 수정된 파라미터",
    "ex_params_intro_full_batch": "각 기울기는 $%(dEdw)s$로 구했다. \\ref{%(sec)s}절의 %(optimizer)s 단계는 모든 샘플에 "
                          "대해 한 번에 밟기 때문에, 이 샘플만으로 수정한 값은 싣지 않는다:",
    "ex_params_intro": "각 기울기는 $%(dEdw)s$로, 수정은 \\ref{%(sec)s}절의 규칙(%(optimizer)s, $\\eta = %(lr)s$)으로 "
                       "구했다:",
    "ex_more": "\\dots\\ 외 %(n)s개",
    "col_neuron": "뉴런", "col_param": "파라미터", "col_value": "값", "col_gradient": "기울기",
    "col_updated": "수정 후",
}

LANGUAGES = {"en": EN, "ko": KO}

# -- the document of a network of layer kinds (derive.document.graph) ----------------------------------

GRAPH_EN: dict = {
    "network": "The network as a graph of layers",
    "network_intro": "The network has %(depth)s layers. Figure~\\ref{fig:net} draws them as a graph: each box is a "
                     "layer, and an arrow carries a layer's output to every layer that reads it%(skips)s. "
                     "Table~\\ref{tab:notation} lists each layer with its kind, its inputs, its width and its "
                     "activation.",
    "skips": "; the curved arrows are skip connections, whose gradients are added",
    "figure_caption": "The graph of layers, from the input $x$ to the objective $J$.",
    "table_caption": "Layers, their kinds, inputs and widths.",
    "col_layer": "Layer", "col_name": "Name", "col_kind": "Kind", "col_input": "Input", "col_width": "Width",
    "col_activation": "Activation",
    "indices": "Every quantity carries the sample $n = 1, \\dots, N$ of the batch and a feature: $k$ for a "
               "layer's own features, $j$ for those of its input; $d_l$ is a width (%(widths)s). "
               "$\\frac{\\partial J}{\\partial z}$ is the derivative of the batch objective $J$; $\\delta_{ab}$ is "
               "the Kronecker delta (1 where $a = b$, else 0) and $[c]$ is 1 where the condition $c$ holds, else 0.",
    "forward": "Forward pass and objective",
    "forward_intro": "Layer by layer, every node of the graph is an index expression in the nodes before it:",
    "forward_layer": "Layer %(l)s, %(kind)s (\\texttt{%(name)s}):",
    "loss_intro": "The loss of sample $n$ compares its outputs with the targets $t_{nk}$ (%(loss)s); the objective "
                  "$J$ is its %(how)s over the batch:",
    "how_mean": "mean", "how_sum": "sum",
    "sweep": "Backpropagation runs through the graph in reverse. For a node $z$ and a tensor $x$ that it reads, "
             "the part of the gradient of $x$ that flows through $z$ is the chain rule "
             "$\\frac{\\partial J}{\\partial x_{a}} = \\sum_{i} \\frac{\\partial J}{\\partial z_{i}} "
             "\\frac{\\partial z_{i}}{\\partial x_{a}}$ over all elements $i$ of $z$. SymPy differentiates $z$'s "
             "index expression, which leaves Kronecker deltas; they are removed one at a time: a delta between a "
             "summed index and another index drops the sum and substitutes (keeping the range guard where the "
             "ranges differ), an affine index map is solved for the summed index, and a delta between two free "
             "indices stays as a factor. A tensor read by several nodes gets one part per node, and the parts are "
             "added. No layer kind has a backward rule of its own. The sections below go from the output layer down.",
    "layer_title": "Layer %(l)s: %(kind)s (\\texttt{%(name)s})",
    "sub_forward": "Forward", "sub_backward": "Backward through its nodes", "sub_closed": "Closed form",
    "sub_params": "Parameter gradients", "sub_input": "Gradient handed to the input",
    "kind_dense": "A dense layer: each output feature $k$ is a weighted sum of the input features plus a bias, "
                  "then the activation.",
    "kind_dense_nobias": "A dense layer without bias: each output feature $k$ is a weighted sum of the input "
                         "features, then the activation.",
    "kind_add": "An addition (skip connection): the sum of its inputs %(inputs)s, then the activation. Backward, "
                "every input receives the gradient of the sum unchanged: the derivative of a sum by one of its "
                "terms is 1.",
    "kind_layer_norm": "Layer normalisation: each sample $n$ is normalised over its features, by its mean and "
                       "variance, then scaled and shifted per feature. The mean and the variance are nodes of "
                       "their own, so the chain rule runs through the computational graph "
                       "$x \\to \\mu \\to \\sigma^2 \\to \\hat x \\to u$.",
    "kind_batch_norm": "Batch normalisation: each feature $k$ is normalised over the $N$ samples $m$ of the batch "
                       "(the biased variance, as in training), then scaled and shifted. It couples the samples: "
                       "$\\mu_k$ and $\\sigma^2_k$ depend on every sample, so the derivation introduces the sample "
                       "index, and the gradient handed to $x_{nk}$ depends on the whole batch. In inference the "
                       "module uses running statistics instead (momentum %(momentum)s, unbiased running variance).",
    "kind_custom": "A custom layer, the spec's own formula \\texttt{%(formula)s} with the parameters %(params)s. "
                   "Its backward pass is derived like that of every other kind.",
    "kind_conv": "A convolution (cross-correlation, as PyTorch's) with %(channels)s output channels, kernel %(size)s, "
                 "stride %(stride)s and zero padding %(pad)s. Each output position $p$ reads the inputs "
                 "$s(p-1) + a - \\mathrm{pad}$, $a = 1, \\dots, A$; a read that falls in the padding is 0, the range "
                 "guard $[\\cdot]$ of the formula.",
    "kind_avgpool": "Average pooling over windows %(size)s with stride %(stride)s, channel by channel: the gradient "
                    "spreads each output's evenly over its window.",
    "kind_maxpool": "Max pooling over windows %(size)s with stride %(stride)s, channel by channel. The selection "
                    "$m$ (1 at each window's first arg max, row-major on ties) is a node of its own; it is piecewise "
                    "constant, so no gradient flows through it, and the gradient goes to the arg max.",
    "kind_flatten": "Flatten: the channels and positions as one feature vector, channel-major (as "
                    "\\texttt{torch.flatten}), written as a Kronecker delta of the row-major position.",
    "kind_dropout": "Inverted dropout with $p = %(p)s$: the input times a scaled mask $r = m/(1 - p)$, "
                    "$m \\sim \\mathrm{Bernoulli}(1 - p)$ drawn per call in training; $r = 1$ in inference. The mask "
                    "is data, not differentiated.",
    "index_map": "The index map along the first position (padding dashed): each output reads the inputs of its window.",
    "kind_other": "A layer of kind \\texttt{%(kind)s}.",
    "start_output": "This is the output layer: its gradient starts from the loss, by the rules of the notes, for "
                    "one sample.",
    "head_loss": "The loss of one sample is a sum over the outputs, and only one of its terms depends on $%(y)s$:",
    "head_activation": "The derivative of the activation (%(name)s), written in the output where it can be:",
    "head_delta": "Together, $%(delta)s = \\partial E / \\partial u$ of one sample:",
    "head_softmax": "With softmax every output depends on every weighted sum; by the quotient rule,",
    "head_softmax_delta": "so the chain rule sums over the layer:",
    "head_targets": "The targets of one sample sum to one, $%(sum)s = 1$, so",
    "head_scale_mean": "The objective is the mean over the batch, so for sample $n$:",
    "head_scale_sum": "The objective is the sum over the batch, so for sample $n$:",
    "start_hidden": "The gradient of its output comes from the layers that read it:",
    "summed": "The gradient reaches $%(tensor)s$ along %(count)s paths (%(through)s); the parts are added:",
    "through_layer": "layer %(l)s, $%(node)s$, Section~\\ref{%(sec)s}",
    "edge": "Through $%(source)s$ (%(what)s) to $%(target)s$:",
    "terms": "Its %(count)s terms are worked one by one:",
    "note_chain": "chain rule", "note_diff": "differentiate", "note_result": "result", "note_term": "term",
    "note_output_form": "in the output",
    "step_substitute": "$%(delta)s$: $%(index)s = %(value)s$",
    "step_affine": "$%(delta)s$: solved, $%(index)s = %(value)s$",
    "step_strided": "$%(delta)s$: $%(index)s = %(value)s$ (dilated map)",
    "step_merge": "$%(delta)s$ kept",
    "step_guard": ", where $%(guard)s$",
    "closed_intro_u": "Solving the affine index map made the gradient handed to the input a correlation of "
                      "$\\partial J/\\partial u$ with the kernel. Counting the kernel's offsets the other way "
                      "($a' = A + 1 - a$) and writing $g_{%(idx)s} = \\frac{\\partial J}{\\partial %(node)s}$, "
                      "it is the textbook's full correlation with the flipped kernel: $g$ dilated by the stride "
                      "(a stride $s$ reads every $s$-th position), zero-padded by $A - 1 - \\mathrm{pad}$",
    "closed_intro_xhat": "Added, the paths through $\\hat x$, $\\sigma^2$ and $\\mu$ give the gradient handed to the input. "
                    "With $g_{%(idx)s} = \\frac{\\partial J}{\\partial \\hat x_{%(idx)s}}$ it is the textbook closed "
                    "form",
    "closed_g": "where",
    "closed_proved": "The proof (Section~\\ref{sec:proof}) confirmed that the gradient derived through the graph "
                     "equals this closed form, element by element on the explicit instance.",
    "closed_unchecked": "(The proof was switched off, so this equality was not checked for this document.)",
    "closed_failed": "The proof found the graph-derived gradient different from this closed form "
                     "(Section~\\ref{sec:proof}).",
    "params_intro": "The gradients of the layer's parameters, summed over the samples of the batch:",
    "input_intro": "The part of the gradient of its input $%(x)s$ that this layer hands down:",
    "input_more": "The input is read elsewhere too; the whole gradient is added up in the section of the layer that "
                  "makes it.",
    "proof": "What was proven",
    "proof_intro": "The formulas above hold for any widths and batch size. To back them, a small instance of the same "
                   "graph (the sizes below) was written out element by element, its objective differentiated "
                   "directly for every parameter and every input element (reverse mode over the written-out "
                   "expression, each node's partial derivatives by SymPy), and compared with the formulas of the "
                   "reverse sweep evaluated at the same random points:",
    "proof_none": "No proof was made for this document (\\texttt{--proof off}).",
    "example": "Worked example",
    "example_image": "The image is shrunk to %(shape)s (its channels, the fewest positions from 4 up that every "
                     "window fits), so that every element can be shown; the formulas are those above.",
    "example_intro": "One forward and backward pass with numbers, on a batch of %(N)s sample%(plural)s, computed "
                     "element by element from the formulas above in %(digits)s-digit arithmetic and printed to 9 "
                     "significant digits.",
    "example_given": "The values of %(names)s come from the spec's \\texttt{[example]} table; the others are drawn "
                     "with a fixed seed (%(seed)s), rounded to two decimals.",
    "example_drawn": "All values are drawn with a fixed seed (%(seed)s), rounded to two decimals.",
    "ex_inputs": "Inputs, targets and parameters",
    "ex_forward": "Forward pass",
    "ex_backward": "Backward pass",
    "ex_update": "Gradients and updated parameters",
    "word_newton": "Newton's method", "word_hf": "Hessian-free optimisation",
    "so": "Second order: Newton, Gauss--Newton, Levenberg--Marquardt",
    "so_intro": "Seed 004 sorts the training methods by order: gradient descent and its variants use $g$ only; "
                "Newton's method also the curvature, the Hessian $H$ of the objective, and steps to the minimum of "
                "its quadratic model. The methods of order ``1.5'' (Gauss--Newton, Levenberg--Marquardt) take the "
                "curvature from the first derivatives of the outputs alone. All of it below comes from the same "
                "derivation.",
    "so_coupled": "The %(why)s, so there is no Jacobian of one sample's outputs and no Gauss--Newton matrix here; "
                  "the Hessian-vector product below still holds.",
    "so_jacobian": "The Jacobian of the outputs",
    "so_jacobian_intro": "The Jacobian holds $\\partial y_{no} / \\partial \\theta$ for every sample $n$, output "
                         "unit $o$ and parameter $\\theta$. Each output unit is backpropagated on its own: the "
                         "reverse sweep of the sections above is linear in the gradient it starts from, so started "
                         "from $\\partial y_{no} / \\partial u^{(%(L)s)}_{nk}$ instead of the loss's $\\delta$ it gives "
                         "the derivatives of $y_{no}$, each sample's part kept (no layer couples the samples). "
                         "The start, and each parameter:",
    "so_jacobian_after": "The tensors in between follow the sweep's own formulas, each gradient array "
                         "$\\partial J/\\partial x$ read as $\\partial y_{no}/\\partial x$.",
    "so_gn": "Gauss--Newton and Levenberg--Marquardt",
    "so_gn_intro": "With $J_n = \\partial a_n / \\partial \\theta$ the Jacobian of sample $n$ at the output layer "
                   "and $H_n$ the Hessian of its loss $E_n$ there, the Hessian of the sum over samples splits in "
                   "two; the Gauss--Newton matrix $G$ keeps the first part, which needs first derivatives only and "
                   "is positive semi-definite where $H_n$ is. The part it drops is small near a fit, where "
                   "$\\partial E_n / \\partial y$ is small:",
    "so_gn_u": "The loss matches the output activation (its Hessian in the pre-activations $u$ holds no target), "
               "so $a = u$, derived by \\texttt{sympy.diff} through the activation's Jacobian:",
    "so_gn_y": "The loss's Hessian in the pre-activations would hold the targets, so $a = y$, the outputs, "
               "derived by \\texttt{sympy.diff}:",
    "so_lm": "Levenberg--Marquardt damps Gauss--Newton's step with $\\mu$ (with $g$ the gradient of the sum over "
             "samples): a small $\\mu$ gives Gauss--Newton's step, a large one a short gradient step. The system "
             "is solved by Cholesky, never through an inverse.",
    "so_r": "The R-operator: the Hessian times a vector",
    "so_r_intro": "Newton's method needs $H$ only through products $H v$. Pearlmutter's R-operator "
                  "$\\mathcal{R}\\{f\\} = \\frac{d}{d\\epsilon} f(\\theta + \\epsilon v) \\big|_{\\epsilon = 0}$ applied to "
                  "every formula of the forward pass and of the reverse sweep gives "
                  "$\\mathcal{R}\\{\\partial J / \\partial \\theta\\} = H v$ at about the cost of two gradients; "
                  "$\\mathcal{R}\\{\\theta\\} = v$, and every step is \\texttt{sympy.diff} in $\\epsilon$. The forward "
                  "pass:",
    "so_r_backward": "And, at the end of the sweep, each parameter's $(H v)$:",
    "so_lm_example": "One Levenberg--Marquardt step in numbers",
    "so_lm_example_large": "This network has %(P)s parameters; the step in numbers, a system of that size at 40 "
                           "digits, is shown for networks of up to %(limit)s.",
    "so_lm_example_intro": "At the worked example's point, with $\\mu = %(mu)s$: the Jacobian ($%(rows)s$ rows, "
                           "$%(P)s$ parameters) and $H_n$ evaluated from the formulas above, "
                           "$(G + \\mu I)\\,\\Delta\\theta = -g$ solved by Cholesky at 40 digits:",
    "word_lbfgs": "L-BFGS", "word_cg": "conjugate gradient", "word_lm": "Levenberg--Marquardt",
    "ex_update_full_batch": "The spec trains with %(optimizer)s, whose step is taken on all samples at once (a line "
                    "search or a linear system over the batch); it is not shown here.",
    "ex_update_intro": "One step of gradient descent, $\\theta \\leftarrow \\theta - \\eta\\, \\partial J/\\partial "
                       "\\theta$ with $\\eta = %(lr)s$:",
    "ex_objective": "The objective:",
    "col_element": "Element", "col_value": "Value", "col_gradient": "Gradient", "col_updated": "Updated",
    "ex_more": "\\dots\\ and %(n)s more",
    "what": {"mean": "the mean", "variance": "the variance", "normalised": "the normalised value",
             "pre-activation": "the pre-activation", "output": "the output", "parameter": "a parameter",
             "input": "the input"},
}

GRAPH_KO: dict = {
    "network": "층의 그래프로 본 신경망",
    "network_intro": "이 신경망에는 층이 %(depth)s개 있다. 그림~\\ref{fig:net}은 층들을 그래프로 그린 것이다. 상자 하나가 "
                     "층 하나이고, 화살표는 층의 출력을 그 출력을 읽는 층으로 보낸다%(skips)s. 표~\\ref{tab:notation}은 "
                     "각 층의 종류, 입력, 폭, 활성화 함수를 보여 준다.",
    "skips": ". 곡선 화살표는 스킵 연결이며, 그 기울기는 더해진다",
    "figure_caption": "입력 $x$에서 목적 함수 $J$까지, 층의 그래프.",
    "table_caption": "층, 종류, 입력, 폭.",
    "col_layer": "층", "col_name": "이름", "col_kind": "종류", "col_input": "입력", "col_width": "폭",
    "col_activation": "활성화 함수",
    "indices": "모든 양에는 배치의 샘플 $n = 1, \\dots, N$과 특성 첨자가 붙는다. $k$는 층 자신의 특성, $j$는 입력의 "
               "특성이고, $d_l$은 폭이다 (%(widths)s). $\\frac{\\partial J}{\\partial z}$는 배치 목적 함수 $J$의 "
               "편미분이고, $\\delta_{ab}$는 크로네커 델타($a = b$이면 1, 아니면 0), $[c]$는 조건 $c$가 참이면 1, "
               "아니면 0이다.",
    "forward": "순전파와 목적 함수",
    "forward_intro": "층마다, 그래프의 모든 노드는 앞선 노드들의 첨자 식이다:",
    "forward_layer": "층 %(l)s, %(kind)s (\\texttt{%(name)s}):",
    "loss_intro": "샘플 $n$의 손실은 출력과 목표값 $t_{nk}$를 비교하고 (%(loss)s), 목적 함수 $J$는 배치에 대한 "
                  "그 %(how)s이다:",
    "how_mean": "평균", "how_sum": "합",
    "sweep": "오차 역전파는 그래프를 거꾸로 지난다. 노드 $z$와 그 노드가 읽는 텐서 $x$에 대해, $z$를 거쳐 $x$로 가는 "
             "기울기는 연쇄 법칙 $\\frac{\\partial J}{\\partial x_{a}} = \\sum_{i} \\frac{\\partial J}{\\partial "
             "z_{i}} \\frac{\\partial z_{i}}{\\partial x_{a}}$ ($z$의 모든 원소 $i$에 대한 합)이다. SymPy가 $z$의 "
             "첨자 식을 미분하면 크로네커 델타가 남고, 이것을 하나씩 없앤다. 합해지는 첨자와 다른 첨자 사이의 델타는 "
             "합을 없애고 대입한다 (범위가 다르면 범위 조건을 남긴다). 아핀 첨자 식은 합해지는 첨자에 대해 풀고, "
             "두 자유 첨자 사이의 델타는 인수로 남는다. 여러 노드가 읽는 텐서는 노드마다 한 부분을 받고, 그 부분들을 "
             "더한다. 어떤 층 종류도 자기만의 역전파 규칙을 갖지 않는다. 아래 절들은 출력층부터 아래로 내려간다.",
    "layer_title": "층 %(l)s: %(kind)s (\\texttt{%(name)s})",
    "sub_forward": "순전파", "sub_backward": "노드를 거치는 역전파", "sub_closed": "닫힌 형태",
    "sub_params": "파라미터 기울기", "sub_input": "입력으로 전달되는 기울기",
    "kind_dense": "완전연결층: 출력 특성 $k$마다 입력 특성의 가중합에 편향을 더하고 활성화 함수를 적용한다.",
    "kind_dense_nobias": "편향 없는 완전연결층: 출력 특성 $k$마다 입력 특성의 가중합에 활성화 함수를 적용한다.",
    "kind_add": "덧셈 (스킵 연결): 입력 %(inputs)s의 합에 활성화 함수를 적용한다. 역전파에서는 모든 입력이 합의 "
                "기울기를 그대로 받는다. 합을 한 항으로 미분하면 1이기 때문이다.",
    "kind_layer_norm": "층 정규화: 샘플 $n$마다 특성들의 평균과 분산으로 정규화한 뒤, 특성마다 크기를 조절하고 "
                       "이동한다. 평균과 분산이 각각 노드이므로 연쇄 법칙은 계산 그래프 "
                       "$x \\to \\mu \\to \\sigma^2 \\to \\hat x \\to u$를 따라간다.",
    "kind_batch_norm": "배치 정규화: 특성 $k$마다 배치의 $N$개 샘플 $m$에 대해 정규화하고 (학습 때처럼 편향 분산), "
                       "크기를 조절하고 이동한다. 이 층은 샘플들을 서로 묶는다. $\\mu_k$와 $\\sigma^2_k$가 모든 "
                       "샘플에 의존하므로 유도에 샘플 첨자가 들어오고, $x_{nk}$로 전달되는 기울기는 배치 전체에 "
                       "의존한다. 추론 때는 이동 통계(모멘텀 %(momentum)s, 불편 이동 분산)를 대신 쓴다.",
    "kind_custom": "사용자 정의 층: 스펙의 식 \\texttt{%(formula)s}, 파라미터 %(params)s. 역전파는 다른 모든 "
                   "종류와 같은 방법으로 유도한다.",
    "kind_conv": "출력 채널 %(channels)s개, 커널 %(size)s, 보폭 %(stride)s, 0 채움(padding) %(pad)s인 합성곱"
                 "(PyTorch와 같은 상호상관). 출력 위치 $p$는 입력 $s(p-1) + a - \\mathrm{pad}$, "
                 "$a = 1, \\dots, A$를 읽는다. 채움 영역에 떨어지는 값은 0이며, 식의 범위 조건 $[\\cdot]$이 이를 나타낸다.",
    "kind_avgpool": "채널마다 %(size)s 창, 보폭 %(stride)s의 평균 풀링: 기울기는 각 출력의 기울기를 창 전체에 고르게 나눈다.",
    "kind_maxpool": "채널마다 %(size)s 창, 보폭 %(stride)s의 최대 풀링. 선택 $m$(각 창의 첫 번째 최댓값 위치에서 1, "
                    "같으면 행 우선 순서로 앞선 것)은 별도의 노드이며 구간별 상수라 기울기가 흐르지 않으므로, 기울기는 "
                    "최댓값 위치로 간다.",
    "kind_flatten": "평탄화: 채널과 위치를 채널 우선(\\texttt{torch.flatten}과 같이) 하나의 특성 벡터로 만든다. "
                    "행 우선 위치의 크로네커 델타로 쓴다.",
    "kind_dropout": "$p = %(p)s$인 역 드롭아웃: 입력에 크기를 맞춘 마스크 $r = m/(1 - p)$를 곱한다. "
                    "$m \\sim \\mathrm{Bernoulli}(1 - p)$는 학습 때 호출마다 뽑고, 추론 때는 $r = 1$이다. 마스크는 "
                    "데이터이며 미분하지 않는다.",
    "index_map": "첫 번째 위치 방향의 인덱스 사상(점선은 채움): 각 출력은 자기 창의 입력을 읽는다.",
    "kind_other": "종류 \\texttt{%(kind)s}의 층.",
    "start_output": "출력층이다. 기울기는 손실에서 시작하며, 노트의 규칙을 샘플 하나에 대해 적용한다.",
    "head_loss": "한 샘플의 손실은 출력에 대한 합이고, $%(y)s$에 의존하는 항은 하나뿐이다:",
    "head_activation": "활성화 함수(%(name)s)의 도함수를, 가능하면 출력으로 쓰면",
    "head_delta": "둘을 합치면 한 샘플의 $%(delta)s = \\partial E / \\partial u$:",
    "head_softmax": "소프트맥스에서는 모든 출력이 모든 가중합에 의존한다. 몫의 법칙으로",
    "head_softmax_delta": "따라서 연쇄 법칙은 층 전체에 대해 더한다:",
    "head_targets": "한 샘플의 목표값의 합은 1이므로, $%(sum)s = 1$, 따라서",
    "head_scale_mean": "목적 함수는 배치에 대한 평균이므로, 샘플 $n$에 대해",
    "head_scale_sum": "목적 함수는 배치에 대한 합이므로, 샘플 $n$에 대해",
    "start_hidden": "출력의 기울기는 그 출력을 읽는 층들에서 온다:",
    "summed": "기울기는 $%(tensor)s$에 %(count)s개의 경로(%(through)s)로 도달하고, 그 부분들을 더한다:",
    "through_layer": "층 %(l)s, $%(node)s$, \\ref{%(sec)s}절",
    "edge": "$%(source)s$ (%(what)s)를 거쳐 $%(target)s$로:",
    "terms": "%(count)s개의 항을 하나씩 계산한다:",
    "note_chain": "연쇄 법칙", "note_diff": "미분", "note_result": "결과", "note_term": "항",
    "note_output_form": "출력으로",
    "step_substitute": "$%(delta)s$: $%(index)s = %(value)s$",
    "step_affine": "$%(delta)s$: 풀면 $%(index)s = %(value)s$",
    "step_strided": "$%(delta)s$: $%(index)s = %(value)s$ (팽창된 맵)",
    "step_merge": "$%(delta)s$ 남김",
    "step_guard": ", 단 $%(guard)s$",
    "closed_intro_u": "아핀 인덱스 사상을 풀면 입력으로 전달되는 기울기는 $\\partial J/\\partial u$와 커널의 "
                      "상관(correlation)이 된다. 커널의 오프셋을 거꾸로 세고($a' = A + 1 - a$) "
                      "$g_{%(idx)s} = \\frac{\\partial J}{\\partial %(node)s}$로 쓰면, 교과서의 뒤집은 커널과의 "
                      "완전 상관이다: $g$를 보폭만큼 팽창시키고($s$칸마다 읽는다) $A - 1 - \\mathrm{pad}$만큼 0으로 채운다",
    "closed_intro_xhat": "$\\hat x$, $\\sigma^2$, $\\mu$를 거치는 경로를 더하면 입력으로 전달되는 기울기가 된다. "
                    "$g_{%(idx)s} = \\frac{\\partial J}{\\partial \\hat x_{%(idx)s}}$로 쓰면 교과서의 닫힌 형태",
    "closed_g": "여기서",
    "closed_proved": "증명(\\ref{sec:proof}절)에서 그래프로 유도한 기울기가 이 닫힌 형태와 같음을 명시적인 작은 "
                     "신경망의 모든 원소에서 확인했다.",
    "closed_unchecked": "(증명을 끄고 만든 문서이므로 이 등식은 확인하지 않았다.)",
    "closed_failed": "증명에서 그래프로 유도한 기울기가 이 닫힌 형태와 다르게 나왔다 (\\ref{sec:proof}절).",
    "params_intro": "층의 파라미터 기울기 (배치의 샘플에 대해 더한다):",
    "input_intro": "이 층이 입력 $%(x)s$로 전달하는 기울기:",
    "input_more": "입력은 다른 곳에서도 읽히므로, 전체 기울기는 그 입력을 만드는 층의 절에서 더한다.",
    "proof": "증명된 것",
    "proof_intro": "위의 식은 폭과 배치 크기와 관계없이 성립한다. 이를 뒷받침하기 위해 같은 그래프의 작은 신경망(아래 "
                   "크기)을 원소별로 명시적으로 쓰고, 목적 함수를 모든 파라미터와 모든 입력 원소에 대해 직접 미분하여 "
                   "(명시적인 식에 대한 역방향 모드, 각 노드의 편미분은 SymPy로) 같은 무작위 점에서 계산한 역전파 식과 "
                   "비교했다:",
    "proof_none": "이 문서에는 증명이 없다 (\\texttt{--proof off}).",
    "example": "계산 예제",
    "example_image": "모든 원소를 보일 수 있도록 이미지를 %(shape)s로 줄였다(채널은 그대로, 위치는 모든 창이 맞는 "
                     "4 이상의 가장 작은 크기). 식은 위와 같다.",
    "example_intro": "샘플 %(N)s개의 배치에 대한 순전파와 역전파를 위의 식에서 원소별로 %(digits)s자리 정밀도로 계산하고 "
                     "유효숫자 9자리로 적었다.",
    "example_given": "%(names)s의 값은 스펙의 \\texttt{[example]} 표에서 가져왔고, 나머지는 고정된 시드(%(seed)s)로 "
                     "뽑아 소수 둘째 자리로 반올림했다.",
    "example_drawn": "모든 값은 고정된 시드(%(seed)s)로 뽑아 소수 둘째 자리로 반올림했다.",
    "ex_inputs": "입력, 목표값, 파라미터",
    "ex_forward": "순전파",
    "ex_backward": "역전파",
    "ex_update": "기울기와 수정된 파라미터",
    "word_newton": "뉴턴법", "word_hf": "헤세 행렬 없는 최적화",
    "so": "2차 방법: 뉴턴, 가우스-뉴턴, 레벤버그-마쿼트",
    "so_intro": "시드 004는 학습 방법을 차수로 나눈다. 경사 하강법과 그 변형은 $g$만 쓰고, 뉴턴법은 목적 함수의 "
                "곡률인 헤세 행렬 $H$도 써서 2차 근사의 최솟점으로 간다. ``1.5차'' 방법(가우스-뉴턴, "
                "레벤버그-마쿼트)은 출력의 1차 도함수만으로 곡률을 얻는다. 아래는 모두 같은 유도에서 나온다.",
    "so_coupled": "%(why)s. 그래서 샘플 하나의 출력에 대한 야코비 행렬과 가우스-뉴턴 행렬은 여기서 없고, 아래의 "
                  "헤세 행렬-벡터 곱은 그대로 성립한다.",
    "so_jacobian": "출력의 야코비 행렬",
    "so_jacobian_intro": "야코비 행렬은 모든 샘플 $n$, 출력 $o$, 파라미터 $\\theta$에 대한 "
                         "$\\partial y_{no} / \\partial \\theta$이다. 출력마다 따로 역전파한다. 위 절들의 역방향 "
                         "전파는 시작하는 기울기에 대해 선형이므로, 손실의 $\\delta$ 대신 "
                         "$\\partial y_{no} / \\partial u^{(%(L)s)}_{nk}$에서 시작하면 $y_{no}$의 도함수가 나온다 "
                         "(샘플마다 따로: 샘플을 묶는 층이 없다). 시작과 각 파라미터:",
    "so_jacobian_after": "그 사이의 텐서는 역방향 전파의 식을 그대로 따르며, 기울기 배열 $\\partial J/\\partial x$를 "
                         "$\\partial y_{no}/\\partial x$로 읽는다.",
    "so_gn": "가우스-뉴턴과 레벤버그-마쿼트",
    "so_gn_intro": "$J_n = \\partial a_n / \\partial \\theta$를 출력층에서 샘플 $n$의 야코비 행렬, $H_n$을 그곳에서 "
                   "손실 $E_n$의 헤세 행렬이라 하면, 샘플 합의 헤세 행렬은 두 부분으로 나뉜다. 가우스-뉴턴 행렬 "
                   "$G$는 1차 도함수만 필요한 첫 부분을 남기며, $H_n$이 양의 준정부호이면 $G$도 그렇다. 버리는 "
                   "부분은 $\\partial E_n / \\partial y$가 작은, 잘 맞춘 점 근처에서 작다:",
    "so_gn_u": "손실이 출력 활성화 함수와 짝을 이루므로(가중합 $u$에 대한 헤세 행렬에 목표값이 없다) $a = u$이며, "
               "활성화 함수의 야코비 행렬을 거쳐 \\texttt{sympy.diff}로 유도했다:",
    "so_gn_y": "가중합에 대한 손실의 헤세 행렬에는 목표값이 들어가므로 $a = y$(출력)이며, \\texttt{sympy.diff}로 "
               "유도했다:",
    "so_lm": "레벤버그-마쿼트 방법은 가우스-뉴턴 단계를 $\\mu$로 감쇠한다($g$는 샘플 합의 기울기). $\\mu$가 작으면 "
             "가우스-뉴턴 단계, 크면 짧은 경사 단계가 된다. 연립방정식은 역행렬 없이 숄레스키 분해로 푼다.",
    "so_r": "R-연산자: 헤세 행렬과 벡터의 곱",
    "so_r_intro": "뉴턴법에는 $H$가 곱 $H v$로만 필요하다. 펄머터의 R-연산자 "
                  "$\\mathcal{R}\\{f\\} = \\frac{d}{d\\epsilon} f(\\theta + \\epsilon v) \\big|_{\\epsilon = 0}$를 순방향 "
                  "계산과 역방향 전파의 모든 식에 적용하면, 기울기 두 번 정도의 비용으로 "
                  "$\\mathcal{R}\\{\\partial J / \\partial \\theta\\} = H v$를 얻는다. $\\mathcal{R}\\{\\theta\\} = v$이고, "
                  "모든 단계는 $\\epsilon$에 대한 \\texttt{sympy.diff}이다. 순방향 계산:",
    "so_r_backward": "그리고 역방향 전파의 끝에서, 각 파라미터의 $(H v)$:",
    "so_lm_example": "레벤버그-마쿼트 한 단계의 수치",
    "so_lm_example_large": "이 신경망의 파라미터는 %(P)s개이다. 그 크기의 연립방정식을 40자리로 푸는 수치 "
                           "단계는 파라미터 %(limit)s개까지의 신경망에만 싣는다.",
    "so_lm_example_intro": "예제의 점에서 $\\mu = %(mu)s$로: 위 식으로 구한 야코비 행렬(행 $%(rows)s$개, "
                           "파라미터 $%(P)s$개)과 $H_n$, 그리고 40자리 숄레스키 분해로 푼 "
                           "$(G + \\mu I)\\,\\Delta\\theta = -g$:",
    "word_lbfgs": "L-BFGS", "word_cg": "켤레 기울기법", "word_lm": "레벤버그-마쿼트 방법",
    "ex_update_full_batch": "이 신경망은 %(optimizer)s(으)로 학습한다. 그 단계는 모든 샘플에 대해 한 번에 밟으므로(직선 "
                    "탐색 또는 배치 전체의 연립방정식), 여기서는 싣지 않는다.",
    "ex_update_intro": "경사 하강법 한 단계, $\\theta \\leftarrow \\theta - \\eta\\, \\partial J/\\partial \\theta$, "
                       "$\\eta = %(lr)s$:",
    "ex_objective": "목적 함수:",
    "col_element": "원소", "col_value": "값", "col_gradient": "기울기", "col_updated": "수정 후",
    "ex_more": "\\dots\\ 외 %(n)s개",
    "what": {"mean": "평균", "variance": "분산", "normalised": "정규화된 값", "pre-activation": "활성화 이전 값",
             "output": "출력", "parameter": "파라미터", "input": "입력"},
}

GRAPH_LANGUAGES = {"en": GRAPH_EN, "ko": GRAPH_KO}
