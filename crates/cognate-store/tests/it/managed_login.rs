//! Managed login branding styles and their assets, on both backends.

use std::sync::Arc;

use cognate_core::StoreError;
use cognate_core::client::AppClient;
use cognate_core::managed_login::{Asset, Category, ColorMode, Extension, ManagedLogin};
use serde_json::json;

use crate::harness::on_both;
use crate::pools::pool;
use crate::terms::client;

fn asset(category: Category, mode: ColorMode, bytes: &[u8]) -> Asset {
    Asset { category, color_mode: mode, extension: Extension::Png, bytes: bytes.to_vec(), resource_id: None }
}

fn style(c: &AppClient, id: &str, assets: Vec<Asset>) -> ManagedLogin {
    ManagedLogin {
        id: id.into(),
        pool_id: c.pool_id.clone(),
        client_id: c.id.clone(),
        use_cognito_provided_values: false,
        settings: Some(json!({"components": {"pageBackground": {"lightMode": {"color": "ffffffff"}}}})),
        assets,
        created_at: 5,
        updated_at: 5,
    }
}

#[tokio::test]
async fn a_style_is_one_per_client_written_whole_and_goes_with_the_client() {
    on_both(|store| async move {
        let p = pool("mlb");
        store.create_pool(&p).await.unwrap();
        let c = client(&p);
        store.create_client(&c).await.unwrap();

        // A style whose assets cannot all be written leaves nothing behind.
        let twice =
            vec![asset(Category::FormLogo, ColorMode::Light, b"a"), asset(Category::FormLogo, ColorMode::Light, b"b")];
        let broken = style(&c, "00000000-0000-4000-8000-000000000001", twice);
        assert!(store.create_managed_login(&broken).await.is_err());
        assert!(store.managed_login_for_client(&p.id, &c.id, true).await.unwrap().is_none());

        let assets = vec![
            asset(Category::FormLogo, ColorMode::Light, b"logo"),
            asset(Category::PageBackground, ColorMode::Dynamic, b"\x00\xffbg"),
        ];
        let s = style(&c, "00000000-0000-4000-8000-000000000002", assets);
        store.create_managed_login(&s).await.unwrap();
        let again = style(&c, "00000000-0000-4000-8000-000000000003", Vec::new());
        let refused = store.create_managed_login(&again).await;
        assert!(matches!(refused, Err(StoreError::Conflict("managed login branding"))), "{refused:?}");
        let mut stranger = client(&p);
        stranger.id = cognate_core::ids::ClientId::generate(&cognate_core::SystemRng);
        let orphan = style(&stranger, "00000000-0000-4000-8000-000000000004", Vec::new());
        assert!(matches!(store.create_managed_login(&orphan).await, Err(StoreError::NotFound("client"))));

        assert_eq!(store.get_managed_login(&p.id, &s.id).await.unwrap().as_ref(), Some(&s));
        let light = store.managed_login_for_client(&p.id, &c.id, false).await.unwrap().unwrap();
        assert_eq!(light.assets.len(), 2);
        assert!(light.assets.iter().all(|a| a.bytes.is_empty()), "read without their bytes");
        let bg = store.get_managed_login_asset(&p.id, &s.id, Category::PageBackground, ColorMode::Dynamic).await;
        assert_eq!(bg.unwrap().unwrap().bytes, b"\x00\xffbg");
        let none = store.get_managed_login_asset(&p.id, &s.id, Category::PageBackground, ColorMode::Light).await;
        assert!(none.unwrap().is_none());

        // Settings alone keep the assets; a new asset list replaces the old one.
        let mut changed = s.clone();
        changed.settings = None;
        changed.updated_at = 6;
        store.update_managed_login(&changed, false).await.unwrap();
        assert_eq!(store.get_managed_login(&p.id, &s.id).await.unwrap().unwrap().assets.len(), 2);
        changed.assets = vec![asset(Category::FaviconIco, ColorMode::Dynamic, b"ico")];
        store.update_managed_login(&changed, true).await.unwrap();
        assert_eq!(store.get_managed_login(&p.id, &s.id).await.unwrap().as_ref(), Some(&changed));

        store.delete_client(&p.id, &c.id).await.unwrap();
        assert!(store.get_managed_login(&p.id, &s.id).await.unwrap().is_none());
        let gone = store.get_managed_login_asset(&p.id, &s.id, Category::FaviconIco, ColorMode::Dynamic).await;
        assert!(gone.unwrap().is_none());
        assert!(matches!(store.delete_managed_login(&p.id, &s.id).await, Err(StoreError::NotFound(_))));
        assert!(matches!(store.update_managed_login(&changed, true).await, Err(StoreError::NotFound(_))));
    })
    .await;
}

#[tokio::test]
async fn concurrent_creates_for_one_client_make_one_style() {
    on_both(|store| async move {
        let p = pool("mlbrace");
        store.create_pool(&p).await.unwrap();
        let c = Arc::new(client(&p));
        store.create_client(&c).await.unwrap();
        let tasks: Vec<_> = (0..8)
            .map(|i| {
                let (store, c) = (store.clone(), c.clone());
                tokio::spawn(async move {
                    let id = format!("00000000-0000-4000-8000-00000000010{i}");
                    let assets = vec![asset(Category::FormLogo, ColorMode::Light, id.as_bytes())];
                    store.create_managed_login(&style(&c, &id, assets)).await
                })
            })
            .collect();
        let mut made = 0;
        for t in tasks {
            match t.await.unwrap() {
                Ok(()) => made += 1,
                Err(StoreError::Conflict(_)) => {}
                Err(e) => panic!("{e:?}"),
            }
        }
        assert_eq!(made, 1);
        let s = store.managed_login_for_client(&p.id, &c.id, true).await.unwrap().unwrap();
        assert_eq!(s.assets.len(), 1);
        assert_eq!(s.assets[0].bytes, s.id.as_bytes(), "the winner's own asset");
    })
    .await;
}
