"""Module 13 (from a language model to an assistant): wrong answers are rejected, correct answers
written differently keep full marks, and the helpers the notebook leans on do what they say.

Most wrong answers are the reference answer with one plausible mistake put in (``_mutant``), so
that each differs from a correct answer by exactly the mistake it names.
"""

import random

import pytest
import torch
import torch.nn.functional as F
from moduletools import (
    assert_every_exercise_covered,
    check_right_answer,
    check_wrong_answer,
    mutant,
    right_answer_cases,
    wrong_answer_cases,
)

from course import assistant as A

MODULE = "13-assistant"
NB = "assistant.ipynb"
pytestmark = pytest.mark.module13


def _mutant(exercise: str, *edits: tuple[str, str]) -> str:
    return mutant(MODULE, NB, exercise, *edits)


# --- 1. the k-shot prompt ------------------------------------------------------------------------

ICL_LEAK = _mutant(
    "ex-icl-prompt", ("examples[i - k : i]", "examples[i - k + 1 : i + 1]")
)  # the query's own row is a shot
ICL_FIRST_K = _mutant("ex-icl-prompt", ("examples[i - k : i]", "examples[:k]"))
ICL_NEWEST_FIRST = _mutant("ex-icl-prompt", ("examples[i - k : i]", "examples[i - k : i][::-1]"))
ICL_NO_SEPARATOR = _mutant("ex-icl-prompt", ('(x, ">", y, ";")', '(x, ">", y)'))
ICL_ANSWER_APPENDED = _mutant(
    "ex-icl-prompt", ('[examples[i][0], ">"]', '[examples[i][0], ">", examples[i][1]]')
)

# --- 2. the chain-of-thought target -------------------------------------------------------------

COT_NO_MOD = _mutant(
    "ex-cot-target",
    ("np.cumsum(np.asarray(digits, dtype=int)) % 10", "np.cumsum(np.asarray(digits, dtype=int))"),
)
COT_PAIRWISE = _mutant(
    "ex-cot-target",
    (
        "np.cumsum(np.asarray(digits, dtype=int)) % 10",
        "(np.asarray(digits, dtype=int) + np.r_[0, np.asarray(digits, dtype=int)[:-1]]) % 10",
    ),
)
COT_SKIP_FIRST = _mutant(
    "ex-cot-target", ("(sums if steps else [])", "(sums[1:] if steps else [])")
)
COT_NO_EOS = _mutant("ex-cot-target", ('[">", sums[-1], "<eos>"]', '[">", sums[-1]]'))
COT_STEPS_IGNORED = _mutant("ex-cot-target", ("(sums if steps else [])", "sums"))

# --- 3. masked, packed SFT rows -----------------------------------------------------------------

SFT_NO_MASK = _mutant(
    "ex-sft-pack",
    ("lab = [IGNORE] * len(prompt) + list(response)", "lab = list(prompt) + list(response)"),
)
SFT_MASK_WITH_PAD = _mutant(
    "ex-sft-pack",
    (
        "lab = [IGNORE] * len(prompt) + list(response)",
        "lab = [pad_id] * len(prompt) + list(response)",
    ),
)
SFT_PAD_LABELS = _mutant(
    "ex-sft-pack",
    (
        "out = torch.full((len(rows), block_size), IGNORE, dtype=torch.long)",
        "out = torch.full((len(rows), block_size), pad_id, dtype=torch.long)",
    ),
)
SFT_MASK_RESPONSE = _mutant(
    "ex-sft-pack",
    (
        "lab = [IGNORE] * len(prompt) + list(response)",
        "lab = list(prompt) + [IGNORE] * len(response)",
    ),
)
SFT_OFF_BY_ONE = _mutant(
    "ex-sft-pack",
    ("if len(rows[-1]) + len(ids) > block_size:", "if len(rows[-1]) + len(ids) >= block_size:"),
)
SFT_PRESHIFTED = _mutant(
    "ex-sft-pack",
    (
        "lab = [IGNORE] * len(prompt) + list(response)",
        "lab = [IGNORE] * (len(prompt) - 1) + list(response) + [IGNORE]",
    ),
)
SFT_CHUNKED = """
def sft_pack(pairs, block_size, pad_id):
    ids, lab = [], []
    for prompt, response in pairs:  # concatenate everything, then cut every block_size tokens
        ids += list(prompt) + list(response)
        lab += [-100] * len(prompt) + list(response)
    n = -(-len(ids) // block_size) * block_size
    ids += [pad_id] * (n - len(ids))
    lab += [-100] * (n - len(lab))
    return torch.tensor(ids).view(-1, block_size), torch.tensor(lab).view(-1, block_size)
"""

# --- 4. the Bradley-Terry loss ------------------------------------------------------------------

BT_REVERSED = _mutant("ex-bradley-terry", ("F.logsigmoid(r_chosen - r_rejected)", "F.logsigmoid(r_rejected - r_chosen)"))
BT_UNSTABLE = _mutant(
    "ex-bradley-terry",
    (
        "-F.logsigmoid(r_chosen - r_rejected).mean()",
        "-torch.log(torch.sigmoid(r_chosen - r_rejected)).mean()",
    ),
)
BT_SUM = _mutant("ex-bradley-terry", (".mean()", ".sum()"))
BT_WRONG_DIFFERENCE = _mutant(
    "ex-bradley-terry", ("F.logsigmoid(r_chosen - r_rejected)", "F.logsigmoid(r_chosen - r_rejected.mean())")
)  # against the mean rejected reward
BT_NO_LOG = _mutant(
    "ex-bradley-terry",
    ("-F.logsigmoid(r_chosen - r_rejected).mean()", "(1 - torch.sigmoid(r_chosen - r_rejected)).mean()"),
)

# --- 5. the DPO loss ----------------------------------------------------------------------------

DPO_NOT_DETACHED = _mutant(
    "ex-dpo-loss",
    ("(ref_chosen_logps - ref_rejected_logps).detach()", "(ref_chosen_logps - ref_rejected_logps)"),
)
DPO_BETA_SIGN = _mutant("ex-dpo-loss", ("-F.logsigmoid(beta * (", "-F.logsigmoid(-beta * ("))
DPO_BETA_OUTSIDE = _mutant(
    "ex-dpo-loss",
    (
        "-F.logsigmoid(beta * ((policy_chosen_logps - policy_rejected_logps) - ref)).mean()",
        "-beta * F.logsigmoid((policy_chosen_logps - policy_rejected_logps) - ref).mean()",
    ),
)
DPO_NO_REFERENCE = _mutant("ex-dpo-loss", (" - ref)).mean()", ")).mean()"))
DPO_REF_ADDED = _mutant("ex-dpo-loss", (" - ref)).mean()", " + ref)).mean()"))
DPO_SUM = _mutant("ex-dpo-loss", (".mean()", ".sum()"))
DPO_UNSTABLE = _mutant(
    "ex-dpo-loss",
    (
        "-F.logsigmoid(beta * ((policy_chosen_logps - policy_rejected_logps) - ref)).mean()",
        "-torch.log(torch.sigmoid(beta * ((policy_chosen_logps - policy_rejected_logps) - ref))).mean()",
    ),
)

WRONG = {
    NB: {
        "ex-icl-prompt": [
            ICL_LEAK,
            ICL_FIRST_K,
            ICL_NEWEST_FIRST,
            ICL_NO_SEPARATOR,
            ICL_ANSWER_APPENDED,
        ],
        "ex-cot-target": [COT_NO_MOD, COT_PAIRWISE, COT_SKIP_FIRST, COT_NO_EOS, COT_STEPS_IGNORED],
        "ex-sft-pack": [
            SFT_NO_MASK,
            SFT_MASK_WITH_PAD,
            SFT_PAD_LABELS,
            SFT_MASK_RESPONSE,
            SFT_OFF_BY_ONE,
            SFT_PRESHIFTED,
            SFT_CHUNKED,
        ],
        "ex-bradley-terry": [BT_REVERSED, BT_UNSTABLE, BT_SUM, BT_WRONG_DIFFERENCE, BT_NO_LOG],
        "ex-dpo-loss": [
            DPO_NOT_DETACHED,
            DPO_BETA_SIGN,
            DPO_BETA_OUTSIDE,
            DPO_NO_REFERENCE,
            DPO_REF_ADDED,
            DPO_SUM,
            DPO_UNSTABLE,
        ],
    }
}


# the right number as a Python float: the reward model cannot be trained on it
BT_ITEM = """
def bradley_terry_loss(r_chosen, r_rejected):
    return -F.logsigmoid(r_chosen - r_rejected).mean().item()
"""
WRONG["assistant.ipynb"]["ex-bradley-terry"] = [*WRONG["assistant.ipynb"]["ex-bradley-terry"], BT_ITEM]


@pytest.mark.parametrize("case", wrong_answer_cases(MODULE, WRONG), ids=str)
def test_wrong_answer_is_rejected(case):
    check_wrong_answer(case)


def test_every_exercise_has_a_wrong_answer():
    assert_every_exercise_covered(MODULE, WRONG)
    assert all(len(codes) >= 3 for codes in WRONG[NB].values())


# --- correct answers written differently ------------------------------------------------------------

ICL_LOOP = """
def icl_prompt(examples, i, k):
    out = []
    for j in range(i - k, i):
        x, y = examples[j]
        out.extend([x, ">", y, ";"])
    out.extend([examples[i][0], ">"])
    return out
"""
ICL_SUM = """
def icl_prompt(examples, i, k):
    return sum(([x, ">", y, ";"] for x, y in examples[max(0, i - k):i]), []) + [examples[i][0], ">"]
"""
COT_LOOP = """
def cot_target(digits, steps=True):
    out, s = [], 0
    for d in digits:
        s = (s + int(d)) % 10
        out.append(str(s))
    return (out if steps else []) + [">", str(s), "<eos>"]
"""
COT_TUPLE = """
def cot_target(digits, steps=True):
    import itertools
    sums = [str(v % 10) for v in itertools.accumulate(int(d) for d in digits)]
    return tuple(sums * bool(steps) + [">", sums[-1], "<eos>"])
"""
SFT_NUMPY = """
def sft_pack(pairs, block_size, pad_id):
    import numpy as np
    rows = []
    for prompt, response in pairs:
        n = len(prompt) + len(response)
        if not rows or rows[-1][0] + n > block_size:
            rows.append([0, np.full(block_size, pad_id), np.full(block_size, -100)])
        row = rows[-1]
        s = row[0]
        row[1][s:s + n] = list(prompt) + list(response)
        row[2][s + len(prompt):s + n] = list(response)
        row[0] += n
    return torch.from_numpy(np.stack([r[1] for r in rows])).long(), torch.from_numpy(np.stack([r[2] for r in rows])).long()
"""
BT_SOFTPLUS = """
def bradley_terry_loss(r_chosen, r_rejected):
    return F.softplus(r_rejected - r_chosen).mean()
"""
BT_BCE = """
def bradley_terry_loss(r_chosen, r_rejected):
    z = r_chosen - r_rejected
    return F.binary_cross_entropy_with_logits(z, torch.ones_like(z))
"""
DPO_RATIOS = """
def dpo_loss(policy_chosen_logps, policy_rejected_logps, ref_chosen_logps, ref_rejected_logps, beta):
    chosen = policy_chosen_logps - ref_chosen_logps.detach()
    rejected = policy_rejected_logps - ref_rejected_logps.detach()
    return F.softplus(-beta * (chosen - rejected)).mean()
"""
DPO_NO_GRAD = """
def dpo_loss(policy_chosen_logps, policy_rejected_logps, ref_chosen_logps, ref_rejected_logps, beta):
    with torch.no_grad():
        ref = ref_chosen_logps - ref_rejected_logps
    z = beta * (policy_chosen_logps - policy_rejected_logps - ref)
    return F.binary_cross_entropy_with_logits(z, torch.ones_like(z))
"""

RIGHT = {
    NB: {
        "ex-icl-prompt": [ICL_LOOP, ICL_SUM],
        "ex-cot-target": [COT_LOOP, COT_TUPLE],
        "ex-sft-pack": [SFT_NUMPY],
        "ex-bradley-terry": [BT_SOFTPLUS, BT_BCE],
        "ex-dpo-loss": [DPO_RATIOS, DPO_NO_GRAD],
    }
}


# computed in float32 (.float()): right to about 1e-7
BT_FLOAT32 = """
def bradley_terry_loss(r_chosen, r_rejected):
    z = (r_chosen - r_rejected).float()
    return F.softplus(-z).mean()
"""
RIGHT["assistant.ipynb"]["ex-bradley-terry"] = [*RIGHT["assistant.ipynb"]["ex-bradley-terry"], BT_FLOAT32]


# computed in float32, positional names of its own
DPO_FLOAT32 = """
def dpo_loss(policy_chosen, policy_rejected, ref_chosen, ref_rejected, beta):
    pc, pr, rc, rr = (t.float() for t in (policy_chosen, policy_rejected, ref_chosen.detach(), ref_rejected.detach()))
    z = beta * ((pc - rc) - (pr - rr))
    return -F.logsigmoid(z).mean()
"""
RIGHT["assistant.ipynb"]["ex-dpo-loss"] = [*RIGHT["assistant.ipynb"]["ex-dpo-loss"], DPO_FLOAT32]


@pytest.mark.parametrize("case", right_answer_cases(MODULE, RIGHT), ids=str)
def test_correct_answer_written_differently_keeps_full_marks(case):
    check_right_answer(case)


# --- the helpers -----------------------------------------------------------------------------------


def test_trl_dpo_loss_is_the_formula_trl_writes():
    """Does the loss read from trl's source equal -log sigmoid(beta * delta), averaged?"""
    g = torch.Generator().manual_seed(0)
    pc, pr, rc, rr = (torch.randn(7, generator=g, dtype=torch.float64) for _ in range(4))
    want = -F.logsigmoid(0.2 * ((pc - rc) - (pr - rr))).mean()
    assert torch.allclose(A.trl_dpo_loss(pc, pr, rc, rr, 0.2), want, atol=1e-12)


def test_sequence_logps_sums_the_response_tokens_only():
    """Is log pi(y|x) the sum of the response's token log-probs, the prompt's left out?"""
    model = A.new_model(16, seed=0).eval()
    prompt, response = [2, 5, 6, 3], [7, 8, 1]
    ids = torch.tensor([prompt + response])
    with torch.no_grad():
        logp = torch.log_softmax(model(ids)[0][0].float(), -1)
        want = sum(float(logp[len(prompt) - 1 + j, t]) for j, t in enumerate(response))
        got = float(A.sequence_logps(model, [prompt], [response])[0])
    assert abs(got - want) < 1e-5


def test_true_score_prefers_correct_then_thanks():
    """Does the stated rule rank a correct answer over a wrong one, and 'thanks' over 'ok'?"""
    d = ["4", "1", "7"]
    p = A.VOCAB.encode(A.reversal_prompt(d))
    right_thanks, right_ok = (A.VOCAB.encode(A.reversal_response(d, s)) for s in ("thanks", "ok"))
    wrong_thanks = A.VOCAB.encode(A.reversal_response(["4", "1", "8"], "thanks"))
    assert A.true_score(p, right_thanks) > A.true_score(p, right_ok) > A.true_score(p, wrong_thanks)
    assert A.is_correct(p, right_ok) and not A.is_correct(p, wrong_thanks)
    pairs = A.preference_pairs(random.Random(0), 50)
    assert all(A.true_score(q, c) > A.true_score(q, r) for q, c, r in pairs)


def test_answer_after_arrow_reads_both_formats():
    assert A.answer_after_arrow(["3", "8", "6", ">", "6", "<eos>", "<pad>"]) == "6"
    assert A.answer_after_arrow([">", "2", "<eos>"]) == "2"
    assert A.answer_after_arrow(["3", "8"]) is None
