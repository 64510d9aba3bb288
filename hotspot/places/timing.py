"""When places peak: weekday x hour profiles and peak windows in words (timed records), and the
monthly trend (month-only records such as police.uk).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from hotspot.core.records import WEEKDAYS

PEAK_RELATIVE = 0.5


TREND_ALPHA = 0.05


def time_profiles(places, record_label, frame, has_times):
    """Weekday x hour counts per place (timed records) and monthly counts per place, in one pass over the records."""
    n_places = len(places)
    # Row of each record's place in the ranked table; -1 for records in no listed place.
    labels = places["_label"].to_numpy()
    position = np.full(max(int(record_label.max()), int(labels.max(initial=0))) + 1, -1, dtype=np.int64)
    position[labels] = np.arange(n_places)
    row = position[record_label]
    months = sorted(frame["month"].dropna().unique())
    month = pd.Categorical(frame["month"], categories=months).codes
    listed = (row >= 0) & (month >= 0)
    per_month = np.zeros((n_places, len(months)), dtype=np.int64)
    np.add.at(per_month, (row[listed], month[listed]), 1)
    monthly = pd.DataFrame(per_month.T, index=months, columns=list(places["id"]))
    monthly.index.name = "month"
    profiles: dict[str, np.ndarray] = {}
    if has_times:
        when = pd.to_datetime(frame["datetime"])
        timed = (row >= 0) & when.notna().to_numpy()
        weekday_hour = np.zeros((n_places, 7, 24), dtype=np.int64)
        np.add.at(
            weekday_hour,
            (row[timed], when.dt.day_of_week.to_numpy()[timed].astype(int), when.dt.hour.to_numpy()[timed].astype(int)),
            1,
        )
        profiles = dict(zip(places["id"], weekday_hour))
    return profiles, monthly


def peak_windows(
    profile: np.ndarray, relative: float = PEAK_RELATIVE, max_windows: int = 2, smooth: bool = True
) -> list[tuple[int, int, int, float]]:
    """The busiest runs of weekly hours in a 7 x 24 weekday-by-hour count matrix (Monday first).

    An hour is busy when its count (with ``smooth``, the mean over it and the hours either side)
    is at least ``relative`` (default 0.5) times the busiest hour's; busy hours merge into runs of consecutive hours (the week wraps: Sunday 23:00 is
    followed by Monday 00:00). Returns up to ``max_windows`` runs as ``(start_hour_of_week,
    length_hours, count, share)``, the run holding most records first.
    """
    weekly = np.asarray(profile, dtype=np.float64).ravel()
    total = weekly.sum()
    if total <= 0:
        return []
    # A place has a few records per weekly hour, so single hours are noisy: judge each hour by
    # the mean of it and its two neighbours (the week wraps) before thresholding.
    smoothed = (np.roll(weekly, 1) + weekly + np.roll(weekly, -1)) / 3.0 if smooth else weekly
    threshold = relative * smoothed.max()
    # Smoothing alone would widen a sharp peak by an hour each side, so an hour must also be busy
    # itself, except a single dip between two busy hours, which noise explains better than a gap.
    busy_itself = (smoothed >= threshold) & (weekly >= threshold)
    chosen = busy_itself | ((smoothed >= threshold) & np.roll(busy_itself, 1) & np.roll(busy_itself, -1))
    if chosen.all():
        return [(0, 168, int(total), 1.0)]
    # Start scanning just after a quiet hour so no run is split by the week's wrap-around.
    start_scan = int(np.argmin(chosen)) + 1
    runs = []
    run_start, run_len = None, 0
    for step in range(168):
        hour = (start_scan + step) % 168
        if chosen[hour]:
            if run_start is None:
                run_start, run_len = hour, 0
            run_len += 1
        elif run_start is not None:
            runs.append((run_start, run_len))
            run_start = None
    if run_start is not None:
        runs.append((run_start, run_len))
    described = []
    for start, length in runs:
        hours = [(start + i) % 168 for i in range(length)]
        count = weekly[hours].sum()
        described.append((start, length, int(count), float(count / total)))
    described.sort(key=lambda r: (-r[2], r[0]))
    return described[:max_windows]


def describe_window(start_hour_of_week: int, length_hours: int) -> str:
    """``(start, length)`` in weekly hours as words, e.g. ``(5*24+22, 5)`` -> ``"Sat 22:00-03:00"``."""
    day = WEEKDAYS[start_hour_of_week // 24]
    start = start_hour_of_week % 24
    end = (start + length_hours) % 24
    return f"{day} {start:02d}:00-{end:02d}:00"


# Kendall's tau and the Theil-Sen slope of a series against its order, computed here rather than with
# scipy.stats: importing scipy.stats costs about half a second, a sixth of `hotspot rank`. Each follows
# scipy's own steps (scipy.stats.kendalltau with method="auto", scipy.stats.theilslopes), so the values
# are the same to the last bit, but for the normal approximation's p (the C library's erfc for scipy.special's
# ndtr: within 3e-15); tests check them against scipy on series with and without ties.


def kendall_tau_in_order(values) -> tuple[float, float]:
    """``scipy.stats.kendalltau(range(n), values)``: tau-b and its two-sided p.

    The p is exact (Kendall's recurrence) when ``values`` has no ties and n <= 33 (or at most one
    pair is out of order), else the normal approximation with the tie-corrected variance, as
    scipy's ``method="auto"`` (that p within 3e-15 relative of scipy's). NaN, NaN for fewer than 2 values, a NaN among them, or all equal.
    """
    y = np.asarray(values, dtype=np.float64).ravel()
    n = int(y.size)
    if n < 2 or np.isnan(y).any():
        return float("nan"), float("nan")
    upper = np.triu_indices(n, 1)
    dis = int((y[:, None] > y[None, :])[upper].sum())  # pairs i < j with y_i > y_j (x is strictly increasing)
    cnt = np.unique(y, return_counts=True)[1].astype(np.int64)
    cnt = cnt[cnt > 1]
    ytie = int((cnt * (cnt - 1) // 2).sum())
    y0 = int((cnt * (cnt - 1.0) * (cnt - 2)).sum())
    y1 = int((cnt * (cnt - 1.0) * (2 * cnt + 5)).sum())
    xtie = x0 = x1 = 0
    tot = (n * (n - 1)) // 2
    if ytie == tot:
        return float("nan"), float("nan")
    con_minus_dis = tot - xtie - ytie + 0 - 2 * dis
    tau = con_minus_dis / np.sqrt(tot - xtie) / np.sqrt(tot - ytie)
    tau = float(np.minimum(1.0, max(-1.0, tau)))
    if ytie == 0 and (n <= 33 or min(dis, tot - dis) <= 1):
        return tau, float(_kendall_p_exact(n, tot - dis))
    m = n * (n - 1.0)
    var = (m * (2 * n + 5) - x1 - y1) / 18 + (2 * xtie * ytie) / m + x0 * y0 / (9 * m * (n - 2))
    z = float(con_minus_dis / np.sqrt(var))
    # scipy's 2 ndtr(-|z|) as the C library's erfc, as hotspot.kernels.gistar.two_sided_normal_p: within
    # 3e-15 of it, and no scipy.special import (~0.2 s, an eighth of a fresh `hotspot rank`).
    return tau, math.erfc(abs(z) * math.sqrt(0.5))


def _kendall_p_exact(n: int, c: int) -> float:
    """Two-sided exact p of c concordant pairs among n untied values (Kendall 1970; scipy's recurrence)."""
    import math

    c = int(min(c, (n * (n - 1)) // 2 - c))  # the distribution is symmetric: take the left tail
    if n <= 2:
        prob = 1.0
    elif c == 0:
        prob = 2.0 / math.factorial(n) if n < 171 else 0.0
    elif c == 1:
        prob = 2.0 / math.factorial(n - 1) if n < 172 else 0.0
    elif 4 * c == n * (n - 1):
        prob = 1.0
    elif n < 171:
        new = np.zeros(c + 1)
        new[0:2] = 1.0
        for j in range(3, n + 1):
            new = np.cumsum(new)
            if j <= c:
                new[j:] -= new[: c + 1 - j]
        prob = 2.0 * np.sum(new) / math.factorial(n)
    else:
        new = np.zeros(c + 1)
        new[0:2] = 1.0
        for j in range(3, n + 1):
            new = np.cumsum(new) / j
            if j <= c:
                new[j:] -= new[: c + 1 - j]
        prob = np.sum(new)
    return float(np.clip(prob, 0, 1))


def theil_sen_slope(values) -> float:
    """``scipy.stats.theilslopes(values).slope``: the median of the slopes between every pair of months."""
    y = np.asarray(values, dtype=np.float64).ravel()
    if y.size < 2 or np.isnan(y).any():
        return float("nan")
    x = np.arange(len(y), dtype=float)
    deltax = x[:, np.newaxis] - x
    deltay = y[:, np.newaxis] - y
    slopes = deltay[deltax > 0] / deltax[deltax > 0]
    slopes.sort()
    return float(np.median(slopes))


def monthly_trend(series: pd.Series) -> tuple[str, float, float]:
    """Mann-Kendall trend of monthly counts: (``"rising"``/``"falling"``/``"no clear trend"``, tau, p).

    Kendall's tau between month order and count, two-sided p as ``scipy.stats.kendalltau`` gives it
    (:func:`kendall_tau_in_order`); a trend is called at p < 0.05. Fewer than 4 months: ``"too few months"``.
    """
    values = np.asarray(series, dtype=np.float64)
    if len(values) < 4:
        return "too few months", float("nan"), float("nan")
    if np.all(values == values[0]):
        return "no clear trend", 0.0, 1.0
    tau, p = kendall_tau_in_order(values)
    if p < TREND_ALPHA:
        return ("rising" if tau > 0 else "falling"), float(tau), float(p)
    return "no clear trend", float(tau), float(p)


def add_timing_columns(places, profiles, monthly, has_times) -> None:
    if has_times:
        peaks = []
        for place_id in places["id"]:
            windows = peak_windows(profiles[place_id])
            peaks.append(", ".join(f"{describe_window(s, n)} ({share:.0%})" for s, n, _, share in windows))
        places["peak"] = peaks
    trends, taus, ps, slopes = [], [], [], []
    for place_id in places["id"]:
        series = monthly[place_id] if place_id in monthly else pd.Series(dtype=float)
        label, tau, p = monthly_trend(series)
        trends.append(label)
        taus.append(tau)
        ps.append(p)
        slopes.append(theil_sen_slope(series.to_numpy(np.float64)) if len(series) >= 4 else float("nan"))
    places["trend"] = trends
    places["trend_tau"] = taus
    places["trend_p"] = ps
    places["trend_per_month"] = slopes
