//! Device type, operating system and browser from a `User-Agent` header.
//!
//! Parsing is done by woothee; this module maps its categories and names to
//! the few values a report filter should offer:
//!
//! | device         | what woothee says                                        |
//! |----------------|----------------------------------------------------------|
//! | `Desktop`      | category `pc`                                            |
//! | `Smartphone`   | category `smartphone`, except tablets                    |
//! | `Tablet`       | an iPad, or Android without the `Mobile` token (Google's convention for tablets) |
//! | `Mobile phone` | category `mobilephone` (feature phones)                  |
//! | `Game console` | category `appliance`: PlayStation, Xbox, Nintendo        |
//! | `Smart TV`     | category `appliance`, woothee's `InternetTVBrowser`      |
//! | `Crawler`      | category `crawler` (search engines, link previews)       |
//! | `Other`        | category `misc` (HTTP libraries, feed readers)           |
//!
//! The operating system is reported as a family without its version, so the
//! filter lists `Windows` once rather than once per release: `Windows`,
//! `Mac OSX`, `iOS` (iPhone, iPad, iPod), `Android`, `Linux`, `ChromeOS`, and
//! woothee's name for the rarer ones. The browser is woothee's name
//! (`Chrome`, `Safari`, `Firefox`, `Edge`, `Opera`, `Internet Explorer`,
//! `Webview` for in-app views, ...), with `SamsungBrowser` spelled `Samsung
//! Internet`. Crawlers and other non-browsers get no browser. Whatever woothee
//! does not recognise stays absent, and reports show it as "unknown".

use woothee::parser::{Parser, WootheeResult};

/// What woothee answers for anything it does not recognise.
const UNKNOWN: &str = woothee::woothee::VALUE_UNKNOWN;

/// The context a `User-Agent` tells.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Agent {
    /// `Desktop`, `Smartphone`, `Tablet`, `Mobile phone`, `Game console`,
    /// `Smart TV`, `Crawler` or `Other`.
    pub device: Option<String>,
    /// The operating system family, without version.
    pub os: Option<String>,
    /// The browser's name; absent for crawlers and other non-browsers.
    pub browser: Option<String>,
}

/// Parses a `User-Agent` header into device type, OS family and browser.
/// An empty or unrecognised header gives an [`Agent`] with nothing known.
pub fn parse(user_agent: &str) -> Agent {
    let Some(result) = Parser::new().parse(user_agent) else {
        return Agent::default();
    };
    Agent {
        device: device_name(&result, user_agent).map(str::to_owned),
        os: os_family(&result).map(str::to_owned),
        browser: browser_name(&result).map(str::to_owned),
    }
}

fn device_name(result: &WootheeResult<'_>, user_agent: &str) -> Option<&'static str> {
    let device = match result.category {
        "pc" => "Desktop",
        "smartphone" if is_tablet(result.os, user_agent) => "Tablet",
        "smartphone" => "Smartphone",
        "mobilephone" => "Mobile phone",
        "appliance" if result.name == "InternetTVBrowser" => "Smart TV",
        "appliance" => "Game console",
        "crawler" => "Crawler",
        "misc" => "Other",
        _ => return None,
    };
    Some(device)
}

/// Woothee files tablets under smartphones; an iPad says so, and Android
/// tablets leave out the `Mobile` token that Android phones send.
fn is_tablet(os: &str, user_agent: &str) -> bool {
    os == "iPad" || (os == "Android" && !user_agent.contains("Mobile"))
}

fn os_family<'a>(result: &WootheeResult<'a>) -> Option<&'a str> {
    let os = result.os;
    if os == UNKNOWN || os.is_empty() || result.category == "crawler" {
        return None;
    }
    if os.starts_with("Windows") && !os.starts_with("Windows Phone") && os != "Windows CE" {
        return Some("Windows");
    }
    Some(match os {
        "iPhone" | "iPad" | "iPod" | "iOS" => "iOS",
        other => other,
    })
}

fn browser_name<'a>(result: &WootheeResult<'a>) -> Option<&'a str> {
    if result.browser_type != "browser" || result.name == UNKNOWN || result.name.is_empty() {
        return None;
    }
    Some(match result.name {
        "SamsungBrowser" => "Samsung Internet",
        other => other,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agent(device: &str, os: &str, browser: Option<&str>) -> Agent {
        Agent {
            device: Some(device.to_owned()),
            os: Some(os.to_owned()),
            browser: browser.map(str::to_owned),
        }
    }

    #[test]
    fn chrome_on_windows() {
        let ua = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 \
                  (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36";
        assert_eq!(parse(ua), agent("Desktop", "Windows", Some("Chrome")));
    }

    #[test]
    fn safari_on_iphone() {
        let ua = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 \
                  (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1";
        assert_eq!(parse(ua), agent("Smartphone", "iOS", Some("Safari")));
    }

    #[test]
    fn firefox_on_linux() {
        let ua = "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0";
        assert_eq!(parse(ua), agent("Desktop", "Linux", Some("Firefox")));
    }

    #[test]
    fn chrome_on_an_android_tablet() {
        let ua = "Mozilla/5.0 (Linux; Android 13; SM-X700) AppleWebKit/537.36 \
                  (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36";
        assert_eq!(parse(ua), agent("Tablet", "Android", Some("Chrome")));
    }

    #[test]
    fn chrome_on_an_android_phone() {
        let ua = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 \
                  (KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36";
        assert_eq!(parse(ua), agent("Smartphone", "Android", Some("Chrome")));
    }

    #[test]
    fn safari_on_an_ipad() {
        let ua = "Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 \
                  (KHTML, like Gecko) Version/16.6 Mobile/15E148 Safari/604.1";
        assert_eq!(parse(ua), agent("Tablet", "iOS", Some("Safari")));
    }

    #[test]
    fn safari_on_a_mac() {
        let ua = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 \
                  (KHTML, like Gecko) Version/17.4 Safari/605.1.15";
        assert_eq!(parse(ua), agent("Desktop", "Mac OSX", Some("Safari")));
    }

    #[test]
    fn crawlers_have_no_os_or_browser() {
        let ua = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)";
        assert_eq!(
            parse(ua),
            Agent {
                device: Some("Crawler".to_owned()),
                os: None,
                browser: None
            }
        );
    }

    #[test]
    fn empty_and_garbage_tell_nothing() {
        assert_eq!(parse(""), Agent::default());
        assert_eq!(parse("-"), Agent::default());
        assert_eq!(parse("zzz"), Agent::default());
    }
}
