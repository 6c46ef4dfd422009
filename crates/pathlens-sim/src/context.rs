//! Who watches: the viewer's user id and the context of their session.
//!
//! Values are drawn from weighted lists, coherent with each other: phones
//! run iOS or Android, iOS mostly Safari, the mobile app sends no referrer
//! and the LMS application comes from the LMS domain. A known viewer always
//! watches from the same country, so per-viewer reports look plausible.

use pathlens_model::{Context, PlaybackType};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// Picks an item from `(item, weight)` pairs, in proportion to the weights.
/// The list must be non-empty with a positive total weight.
pub(crate) fn pick_weighted<T: Copy>(rng: &mut ChaCha8Rng, choices: &[(T, u32)]) -> T {
    let total: u32 = choices.iter().map(|(_, weight)| weight).sum();
    pick_by_ticket(choices, rng.random_range(0..total.max(1)))
}

/// The item whose cumulative weight range holds `ticket`.
fn pick_by_ticket<T: Copy>(choices: &[(T, u32)], mut ticket: u32) -> T {
    for (item, weight) in choices {
        if ticket < *weight {
            return *item;
        }
        ticket -= weight;
    }
    choices[choices.len() - 1].0
}

const COUNTRIES: [(&str, u32); 12] = [
    ("US", 30),
    ("IN", 12),
    ("GB", 10),
    ("DE", 9),
    ("FR", 7),
    ("BR", 7),
    ("JP", 5),
    ("CA", 5),
    ("MX", 4),
    ("AU", 4),
    ("ES", 4),
    ("NL", 3),
];
const DEVICES: [(&str, u32); 3] = [("Desktop", 55), ("Smartphone", 35), ("Tablet", 10)];
const DESKTOP_OS: [(&str, u32); 3] = [("Windows", 60), ("Mac OSX", 32), ("Linux", 8)];
const MOBILE_OS: [(&str, u32); 2] = [("Android", 55), ("iOS", 45)];
const WINDOWS_BROWSERS: [(&str, u32); 3] = [("Chrome", 62), ("Edge", 26), ("Firefox", 12)];
const MAC_BROWSERS: [(&str, u32); 3] = [("Safari", 45), ("Chrome", 45), ("Firefox", 10)];
const LINUX_BROWSERS: [(&str, u32); 2] = [("Firefox", 55), ("Chrome", 45)];
const IOS_BROWSERS: [(&str, u32); 2] = [("Safari", 85), ("Chrome", 15)];
const ANDROID_BROWSERS: [(&str, u32); 2] = [("Chrome", 88), ("Firefox", 12)];
const DESKTOP_APPLICATIONS: [(&str, u32); 2] = [("web", 75), ("lms", 25)];
const MOBILE_APPLICATIONS: [(&str, u32); 3] = [("web", 55), ("mobile-app", 35), ("lms", 10)];
const WEB_REFERRERS: [(&str, u32); 5] = [
    ("example.com", 40),
    ("google.com", 25),
    ("linkedin.com", 15),
    ("youtube.com", 12),
    ("t.co", 8),
];
const LMS_REFERRER: &str = "lms.example.edu";
const PLAYBACK_TYPES: [(PlaybackType, u32); 3] = [
    (PlaybackType::Vod, 94),
    (PlaybackType::Live, 3),
    (PlaybackType::Dvr, 3),
];

/// The viewer of one session: who, and from where.
pub(crate) struct Viewer {
    pub user_id: Option<String>,
    pub context: Context,
}

/// Draws a viewer: anonymous with probability `anonymous_share`, otherwise
/// one of `known_viewers` user ids, the first ones returning more often.
pub(crate) fn draw_viewer(
    rng: &mut ChaCha8Rng,
    anonymous_share: f64,
    known_viewers: u32,
) -> Viewer {
    let known = known_viewers > 0 && !rng.random_bool(anonymous_share);
    let user_number = known.then(|| {
        let skewed = rng.random::<f64>().powi(2);
        1 + ((skewed * f64::from(known_viewers)) as u32).min(known_viewers - 1)
    });
    let country = match user_number {
        Some(number) => home_country(number),
        None => pick_weighted(rng, &COUNTRIES),
    };
    Viewer {
        user_id: user_number.map(|number| format!("user-{number:04}")),
        context: draw_context(rng, country),
    }
}

/// The country a known viewer always watches from, fixed by their number.
fn home_country(user_number: u32) -> &'static str {
    let total: u32 = COUNTRIES.iter().map(|(_, weight)| weight).sum();
    let scrambled = user_number.wrapping_mul(2_654_435_761) >> 7;
    pick_by_ticket(&COUNTRIES, scrambled % total)
}

fn draw_context(rng: &mut ChaCha8Rng, country: &str) -> Context {
    let device = pick_weighted(rng, &DEVICES);
    let desktop = device == "Desktop";
    let os = pick_weighted(
        rng,
        if desktop {
            &DESKTOP_OS[..]
        } else {
            &MOBILE_OS[..]
        },
    );
    let browsers: &[(&str, u32)] = match os {
        "Windows" => &WINDOWS_BROWSERS,
        "Mac OSX" => &MAC_BROWSERS,
        "Linux" => &LINUX_BROWSERS,
        "iOS" => &IOS_BROWSERS,
        _ => &ANDROID_BROWSERS,
    };
    let browser = pick_weighted(rng, browsers);
    let applications: &[(&str, u32)] = if desktop {
        &DESKTOP_APPLICATIONS
    } else {
        &MOBILE_APPLICATIONS
    };
    let application = pick_weighted(rng, applications);
    let referrer = match application {
        "mobile-app" => None,
        "lms" => Some(LMS_REFERRER),
        _ => Some(pick_weighted(rng, &WEB_REFERRERS)),
    };
    Context {
        country: Some(country.to_string()),
        device: Some(device.to_string()),
        os: Some(os.to_string()),
        browser: Some(browser.to_string()),
        referrer_domain: referrer.map(str::to_string),
        application: Some(application.to_string()),
        playback_type: Some(pick_weighted(rng, &PLAYBACK_TYPES)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn known_viewers_keep_their_country_and_ids_stay_in_the_pool() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let mut countries = std::collections::HashMap::new();
        let mut anonymous = 0;
        for _ in 0..2000 {
            let viewer = draw_viewer(&mut rng, 0.3, 50);
            let Some(user) = viewer.user_id else {
                anonymous += 1;
                continue;
            };
            let number: u32 = user.strip_prefix("user-").unwrap().parse().unwrap();
            assert!((1..=50).contains(&number), "{user}");
            let country = viewer.context.country.unwrap();
            assert_eq!(
                countries.entry(user).or_insert_with(|| country.clone()),
                &country
            );
        }
        assert!((450..750).contains(&anonymous), "{anonymous}");
    }

    #[test]
    fn context_is_coherent() {
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        for _ in 0..2000 {
            let context = draw_viewer(&mut rng, 0.5, 10).context;
            let os = context.os.as_deref().unwrap();
            let mobile = matches!(os, "iOS" | "Android");
            assert_eq!(mobile, context.device.as_deref() != Some("Desktop"));
            if context.application.as_deref() == Some("mobile-app") {
                assert!(mobile && context.referrer_domain.is_none());
            }
        }
    }

    #[test]
    fn no_known_viewers_means_everyone_is_anonymous() {
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        assert!((0..100).all(|_| draw_viewer(&mut rng, 0.0, 0).user_id.is_none()));
    }
}
