"""Translate: a pixel-level GAN's generator redraws source pictures in the target's style — source
picture, its translation and real target pictures side by side, and one digit under many noise draws."""

import numpy as np
import streamlit as st

from ui import labels, shell, state, training, translation, widgets
from ui.images import upscale_nearest

shell.page_shell()  # shared setup when Streamlit runs this file on its own (see ui/shell.py)

scenario = state.scenario()
st.title("Translate")
GAN = translation.generator_method()
st.markdown(
    f"A **{labels.method_label(GAN) if GAN else 'pixel-level GAN'}** (Bousmalis et al., CVPR 2017) learns a generator "
    "G(x, z) that redraws a labelled source picture x in the style of the target domain, while a "
    "discriminator tries to tell its drawings from real (unlabelled) target pictures. The classifier it "
    "ships is trained on those drawings, which keep their source label. Here you see what it draws; "
    "z is random noise, so the same digit can come out in several styles."
)

PIXEL = 3  # display scale: 28-pixel digits at 84 pixels, crisp
WIDTH = 84
REAL_PER_ROW = 3
DRAWS = 8


def _train_link(text: str) -> None:
    if GAN is None:
        return
    if st.button(text, icon=":material/model_training:", key="translate_train"):
        st.session_state["train_method"] = GAN
        training.remember_pick("train_method")  # the user's pick: the Train page's demo default leaves it
        st.switch_page("pages/train.py")
    st.caption("The Train page's live view shows the generator's translations of fixed source pictures as it learns.")


refs = translation.generator_refs(scenario)
if not refs:
    st.info(translation.how_to_train(), icon=":material/info:")
    _train_link("Train a pixel-level GAN")
    st.stop()

if st.session_state.get("translate_model") not in refs:
    st.session_state["translate_model"] = refs[0]
names = {r: translation.ref_label(r) for r in refs}
ref = st.selectbox("Model with a generator", refs, key="translate_model", format_func=names.get,
                   help="Pretrained pixel-level GANs and the ones you trained in this session.")
try:
    generator, card = translation.load_generator(ref)
except Exception as e:  # noqa: BLE001 - a broken or vanished checkpoint
    st.error(f"Could not load the generator: {e}", icon=":material/error:")
    st.stop()

source, target = card["source"], card["target"]
size = int(generator.spec.get("input_size", 28))
noise_dim = int(getattr(generator, "noise_dim", 0))
try:
    src_domain, tgt_domain = widgets.test_split(source, size), widgets.test_split(target, size)
except Exception as e:  # noqa: BLE001 - e.g. a downloadable domain while offline
    st.warning(f"Could not load the pictures of {labels.scenario_label((source, target))}: {e}")
    st.stop()

c1, c2, c3, c4 = st.columns(4)
with c1:
    n = st.slider("Pictures", 1, 16, 6, key="translate_n", help="How many source pictures to translate.")
with c2:
    st.session_state.setdefault("translate_seed", state.seed())
    seed = int(st.number_input("Seed", 0, 2**31 - 1, key="translate_seed", step=1,
                               help="Picks the source pictures, the real target pictures and the noise."))
with c3:
    draw = st.slider("Noise draw", 0, 19, 0, key="translate_draw", disabled=noise_dim == 0,
                     help="Another draw of the noise z for the same pictures: how the generator's style varies.")
with c4:
    scale = st.slider("Noise scale", 0.0, 2.0, 1.0, 0.1, key="translate_scale", disabled=noise_dim == 0,
                      help="z = scale · u with u ~ U(−1, 1): 1 is the noise the generator was trained with, "
                           "0 no noise; above 1 it sees noise it never saw in training.")
if noise_dim == 0:
    st.caption("This generator takes no noise: each picture has exactly one translation.")

from core.inference.pixel_translation import translated_samples  # noqa: E402

try:
    z = translation.noise(min(n, len(src_domain)), noise_dim, draw, seed, scale)
    src_u8, translated, src_labels, _ = translated_samples(generator, src_domain, min(n, len(src_domain)), seed, z=z)
except ValueError as e:  # a domain the generator was not made for
    st.error(str(e), icon=":material/error:")
    st.stop()


def _real_pictures(label: int, row: int) -> np.ndarray:
    """REAL_PER_ROW target test pictures of the same digit (display only), or any when it has none."""
    rng = np.random.default_rng([seed, row])
    same = tgt_domain.classes == src_domain.classes
    pool = np.flatnonzero(tgt_domain.labels.numpy() == label) if same else np.arange(len(tgt_domain))
    if len(pool) == 0:
        pool = np.arange(len(tgt_domain))
    return rng.choice(pool, size=min(REAL_PER_ROW, len(pool)), replace=False)


src_name, tgt_name = labels.domain_label(source), labels.domain_label(target)
st.subheader(f"{src_name} → {tgt_name}, redrawn")
spread = [1] * (2 + REAL_PER_ROW) + [4]
head = st.columns([1, 1, REAL_PER_ROW, 4], gap="small")
head[0].caption(f"Source ({src_name})")
head[1].caption("Translation")
head[2].caption(f"Real {tgt_name} pictures of the same digit")
src_big, tr_big = upscale_nearest(src_u8, PIXEL * 28 // size), upscale_nearest(translated, PIXEL * 28 // size)
for row, label in enumerate(src_labels.tolist()):
    cols = st.columns(spread, gap="small", vertical_alignment="center")
    cls = src_domain.classes[label]
    cols[0].image(src_big[row], caption=f"source {cls}", width=WIDTH)
    cols[1].image(tr_big[row], caption=f"translated {cls}", width=WIDTH)
    real_idx = _real_pictures(label, row)
    real = upscale_nearest(tgt_domain.images[real_idx], PIXEL * 28 // size)
    for col, img, i in zip(cols[2:], real, real_idx):
        col.image(img, caption=f"{tgt_name} {tgt_domain.classes[int(tgt_domain.labels[i])]}", width=WIDTH)
acc = (card.get("metrics") or {}).get("target_acc")
st.caption(f"{len(src_labels)} {src_name} test pictures (seed {seed}), each with the generator's translation "
           f"(noise draw {draw}, scale {scale:g}) and real {tgt_name} test pictures of the same digit. "
           + (f"The classifier trained on such translations reads {acc:.1f} % of the {tgt_name} test pictures right."
              if isinstance(acc, (int, float)) else ""))

# --------------------------------------------------------------------------- one digit, many draws
if noise_dim > 0:
    st.subheader("One digit, many noise draws")
    choices = list(range(len(src_labels)))
    if st.session_state.get("translate_row") not in choices:
        st.session_state["translate_row"] = 0
    row = st.selectbox("Source picture", choices, key="translate_row",
                       format_func=lambda i: f"picture {i + 1} (a {src_domain.classes[int(src_labels[i])]})")
    many = translation.variations(generator, src_u8[row], row, len(src_labels), DRAWS, seed, scale)
    shown = upscale_nearest(many, PIXEL * 28 // size)
    cols = st.columns(DRAWS + 1, gap="small")
    cols[0].image(src_big[row], caption="source", width=WIDTH)
    for d, (col, img) in enumerate(zip(cols[1:], shown)):
        col.image(img, caption=f"draw {d}" + (" ◀" if d == draw else ""), width=WIDTH)
    change = many.float().sub(many.float().mean(0, keepdim=True)).abs().mean().item()
    st.caption(f"The same source picture under {DRAWS} draws of z (scale {scale:g}). Mean pixel deviation "
               f"between draws: {change:.1f} of 255 — near 0 means the generator ignores its noise "
               "(PixelDA saw this too), and every draw looks the same.")

st.divider()
_train_link("Train another pixel-level GAN live")
