//! Managed login branding styles through their service, on both backends: one style per
//! app client even when creates race, and a refused write leaves the style as it was.

use std::sync::Arc;

use cognate_core::ManualClock;
use cognate_core::managed_login::{Asset, Category, ColorMode, Extension};
use cognate_core::tenant::Tier;
use cognate_server::services::managed_login::{self, ManagedLoginError, StyleInput};
use cognate_server::services::{clients, pools, tenants};
use cognate_server::tenancy;
use serde_json::json;

use super::support::{TestApp, on_both};

const START: i64 = 1_796_083_200_000;
const PNG: &[u8] = b"\x89PNG\r\n\x1a\n-not-decoded-";

fn logo(bytes: &[u8]) -> Asset {
    Asset {
        category: Category::FormLogo,
        color_mode: ColorMode::Light,
        extension: Extension::Png,
        bytes: bytes.to_vec(),
        resource_id: None,
    }
}

#[tokio::test]
async fn racing_creates_make_one_style_and_refusals_write_nothing() {
    on_both(START, |t: TestApp, _clock: Arc<ManualClock>| async move {
        let new = tenants::NewTenant { id: Some("brand"), name: "Brand", tier: Tier::Basic, domains: Vec::new() };
        let tenant = tenants::create(&t.state, new).await.unwrap();
        let pool = pools::get(&t.state, &tenant.pool_id).await.unwrap();
        let client =
            clients::find(&t.state, &tenancy::default_client(&t.state, &pool.id).await.unwrap()).await.unwrap();

        let tasks: Vec<_> = (0..6)
            .map(|i| {
                let (state, pool, client) = (t.state.clone(), pool.id.clone(), client.id.clone());
                let settings = json!({"components": {"pageBackground": {"lightMode": {"color": format!("00000{i}")}}}});
                let input =
                    StyleInput { settings: Some(settings), assets: Some(vec![logo(PNG)]), ..Default::default() };
                tokio::spawn(async move { managed_login::create(&state, &pool, &client, input).await })
            })
            .collect();
        let mut results = Vec::new();
        for task in tasks {
            results.push(task.await.unwrap());
        }
        let made: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
        assert_eq!(made.len(), 1, "{results:?}");
        assert!(results.iter().filter(|r| r.is_err()).all(|r| matches!(r, Err(ManagedLoginError::Exists))));
        let stored = managed_login::by_client(&t.state, &pool.id, &client.id).await.unwrap();
        assert_eq!(&stored, made[0]);

        // A refused update (a second asset of one category and mode) changes nothing.
        let twice = StyleInput { assets: Some(vec![logo(PNG), logo(PNG)]), ..Default::default() };
        let refused = managed_login::update(&t.state, &pool.id, &stored.id, twice).await;
        assert!(matches!(refused, Err(ManagedLoginError::Invalid(_))), "{refused:?}");
        let exclusive = StyleInput { use_cognito_provided_values: true, settings: Some(json!({})), assets: None };
        let refused = managed_login::update(&t.state, &pool.id, &stored.id, exclusive).await;
        assert!(matches!(refused, Err(ManagedLoginError::Invalid(_))), "{refused:?}");
        assert_eq!(managed_login::get(&t.state, &pool.id, &stored.id).await.unwrap(), stored);

        // What the pages read: the assets without their bytes.
        let page = managed_login::for_client(&t.state, &client).await.unwrap().unwrap();
        assert_eq!(page.assets.len(), 1);
        assert!(page.assets[0].bytes.is_empty());
    })
    .await;
}
