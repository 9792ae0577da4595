//! The admin console over HTTP (the browser tests in console-tests/ drive it in Chromium):
//! sign-in links used once, sessions ended on sign-out, forms refused without their CSRF
//! token, the console's security headers.

use reqwest::Method;
use roster::auth::jwt::Role;

use crate::helpers::TestApp;

async fn links_sign_in_once_and_sign_out_ends_the_session(app: TestApp) {
    let secret = app.engine.console_link("acme", Role::Admin).await.unwrap();
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let url = format!("{}/console/link/{secret}", app.root());
    let first = client.get(&url).send().await.unwrap();
    assert_eq!(first.status().as_u16(), 303);
    let cookie = first.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    assert!(cookie.contains("Path=/console"), "{cookie}");
    let again = client.get(&url).send().await.unwrap();
    assert_eq!(again.status().as_u16(), 401, "a link signs in once");

    let s = app.console(Role::Admin).await;
    let page = app
        .console_req(&s, Method::GET, "/console/")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status().as_u16(), 200);
    let h = page.headers();
    assert!(h["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("frame-ancestors 'none'"));
    assert_eq!(h["x-frame-options"], "DENY");
    assert_eq!(h["referrer-policy"], "no-referrer");

    // Sign-out without the form's token changes nothing.
    let refused = app
        .console_req(&s, Method::POST, "/console/sign-out")
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status().as_u16(), 403);
    let still = app
        .console_req(&s, Method::GET, "/console/")
        .send()
        .await
        .unwrap();
    assert_eq!(still.status().as_u16(), 200);

    let out = app
        .console_req(&s, Method::POST, "/console/sign-out")
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(format!("csrf={}", s.csrf))
        .send()
        .await
        .unwrap();
    assert_eq!(out.status().as_u16(), 303);
    let after = app
        .console_req(&s, Method::GET, "/console/")
        .send()
        .await
        .unwrap();
    assert_eq!(
        after.status().as_u16(),
        303,
        "the old cookie no longer signs in"
    );
    assert_eq!(after.headers()["location"], "/console/sign-in");
}

async fn a_pasted_admin_token_signs_in_and_a_bad_one_does_not(app: TestApp) {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let token = app.admin_token(Role::Auditor).await;
    let ok = client
        .post(format!("{}/console/sign-in", app.root()))
        .form(&[("token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status().as_u16(), 303);
    let cookie = ok.headers()["set-cookie"].to_str().unwrap();
    let cookie = cookie.split(';').next().unwrap().to_string();
    let page = client
        .get(format!("{}/console/", app.root()))
        .header("Cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("auditor"), "{page}");
    let bad = client
        .post(format!("{}/console/sign-in", app.root()))
        .form(&[("token", "not-a-token")])
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status().as_u16(), 401);
    assert!(bad.text().await.unwrap().contains("role=\"alert\""));
}

crate::on_both_backends!(
    links_sign_in_once_and_sign_out_ends_the_session,
    a_pasted_admin_token_signs_in_and_a_bad_one_does_not,
);
