//! When sessions happen: how many on a given day, and at what time of day.
//!
//! Traffic follows a weekly rhythm (weekends are quieter) and a daily one in
//! UTC (busy in the evening, quiet at night). The weekly factors average to
//! one, so `sessions_per_day` stays the average over a whole week.

use chrono::{DateTime, Datelike, Utc};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

const HOUR_MS: u64 = 3_600_000;

/// Relative traffic per hour of the day, UTC: low at night, peak at 19–21 h.
const HOUR_WEIGHTS: [u32; 24] = [
    4, 3, 2, 2, 2, 3, 5, 8, 11, 13, 14, 14, 15, 15, 14, 14, 15, 17, 20, 23, 24, 21, 14, 8,
];

/// Relative traffic per weekday, Monday first: weekends are lower.
const WEEKDAY_WEIGHTS: [f64; 7] = [1.08, 1.12, 1.12, 1.10, 1.02, 0.76, 0.70];

/// The traffic factor of the day starting at `day_start`, around 1.
pub(crate) fn weekday_factor(day_start: DateTime<Utc>) -> f64 {
    let mean = WEEKDAY_WEIGHTS.iter().sum::<f64>() / WEEKDAY_WEIGHTS.len() as f64;
    let weekday = day_start.weekday().num_days_from_monday() as usize;
    WEEKDAY_WEIGHTS[weekday] / mean
}

/// Draws how many sessions one video gets on a day whose expected count is
/// `mean`: Poisson for small means, its normal approximation for large ones.
pub(crate) fn draw_count(rng: &mut ChaCha8Rng, mean: f64) -> u32 {
    if mean <= 0.0 || !mean.is_finite() {
        return 0;
    }
    if mean < 30.0 {
        return draw_poisson(rng, mean);
    }
    let drawn = mean + mean.sqrt() * standard_normal(rng);
    drawn.round().max(0.0) as u32
}

/// Knuth's multiplication method, exact and quick for small means.
fn draw_poisson(rng: &mut ChaCha8Rng, mean: f64) -> u32 {
    let limit = (-mean).exp();
    let mut product: f64 = rng.random();
    let mut count = 0;
    while product > limit {
        count += 1;
        product *= rng.random::<f64>();
    }
    count
}

/// A standard normal draw by the Box–Muller transform.
fn standard_normal(rng: &mut ChaCha8Rng) -> f64 {
    let u1 = 1.0 - rng.random::<f64>();
    let u2: f64 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// Draws a session start within a day, in milliseconds after midnight UTC,
/// following the daily rhythm.
pub(crate) fn draw_start_offset(rng: &mut ChaCha8Rng) -> u64 {
    let total: u32 = HOUR_WEIGHTS.iter().sum();
    let mut ticket = rng.random_range(0..total);
    let mut hour = 0;
    for (index, weight) in HOUR_WEIGHTS.iter().enumerate() {
        if ticket < *weight {
            hour = index as u64;
            break;
        }
        ticket -= weight;
    }
    hour * HOUR_MS + rng.random_range(0..HOUR_MS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn weekday_factors_average_to_one_and_weekends_are_lower() {
        let monday = "2026-01-05T00:00:00Z".parse::<DateTime<Utc>>().unwrap();
        let factors: Vec<f64> = (0..7)
            .map(|d| weekday_factor(monday + chrono::Duration::days(d)))
            .collect();
        let mean = factors.iter().sum::<f64>() / 7.0;
        assert!((mean - 1.0).abs() < 1e-9);
        assert!(factors[5] < factors[0] && factors[6] < factors[4]);
    }

    #[test]
    fn counts_centre_on_their_mean() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        for mean in [3.0, 200.0] {
            let draws = 4000;
            let total: u64 = (0..draws)
                .map(|_| u64::from(draw_count(&mut rng, mean)))
                .sum();
            let average = total as f64 / f64::from(draws);
            assert!(
                (average - mean).abs() < mean * 0.05,
                "mean {mean}: got {average}"
            );
        }
        assert_eq!(draw_count(&mut rng, 0.0), 0);
    }

    #[test]
    fn evenings_are_busier_than_nights() {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let mut per_hour = [0u32; 24];
        for _ in 0..20_000 {
            let offset = draw_start_offset(&mut rng);
            assert!(offset < 24 * HOUR_MS);
            per_hour[(offset / HOUR_MS) as usize] += 1;
        }
        assert!(per_hour[20] > 5 * per_hour[3], "{per_hour:?}");
    }
}
