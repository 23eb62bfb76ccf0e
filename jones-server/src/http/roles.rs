//! What each route needs, in one table ([`required`]), and whether a
//! caller has it ([`authorize`]).
//!
//! | route | GET | POST | PUT | DELETE |
//! | --- | --- | --- | --- | --- |
//! | `/healthz`, `/metrics`, the editor's files | open | | | |
//! | `/api/v1/session` | open | open (sign in) | | open (sign out) |
//! | `/api/v1/services` | any role (lists what it may view) | | | |
//! | `/api/v1/services/{svc}` | viewer | admin (create) | admin (settings) | admin |
//! | `.../envs`, `.../associations`, `.../resolve/{name}`, `.../dump`, `.../verify`, `.../clients`, `.../history[/{id}[/config]]`, `.../events`, `.../preview/delete[/{env}]` | viewer | | | |
//! | `.../config[/{env}]` | viewer | admin (create) | editor | admin |
//! | `.../associations/{name}` | viewer | | editor | editor |
//! | `.../preview/config[/{env}]` | | viewer | | |
//! | `.../repair` | | admin | | |
//! | `.../rollback` | | editor | | |
//! | `.../pins[/{env}]` | viewer (the list) | | admin | admin |
//! | `.../schema` | viewer | | admin | admin |
//! | `/api/v1/accounts[/{name}]` | global admin | global admin | | global admin |
//! | `/api/v1/history` | global admin | | | |
//!
//! A role on a service is the caller's highest grant on it or on every
//! service. Anything the table does not name needs a global admin (and is
//! then refused by the router as not allowed): new routes are closed until
//! they are added here.
//!
//! On a server without an admin token every local user passes. On a
//! server with one, `--anonymous-read` lets requests without a credential,
//! and accounts without the role, through where a viewer would pass with
//! `GET` (a `POST` preview still needs a viewer); a wrong token is still
//! refused.

use jones_client::ServiceName;
use serde_json::json;
use warp::http::{Method, StatusCode};

use super::auth::Caller;
use super::errors::ApiError;
use super::router::Route;
use crate::Role;

/// What a request needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Requirement {
    /// Nothing: health, metrics, the editor's files, signing in and out.
    Open,
    /// Any role on any service: the service list (filtered to what the
    /// caller may view).
    AnyRole,
    /// At least `Role` on the route's service.
    OnService(Role),
    /// At least `Role` granted on every service.
    Global(Role),
}

/// The requirement of `method` on `route`.
pub(crate) fn required(route: &Route, method: &Method) -> Requirement {
    use Requirement::{AnyRole, Global, OnService, Open};
    use Role::{Admin, Editor, Viewer};
    let get = *method == Method::GET || *method == Method::HEAD;
    let post = *method == Method::POST;
    let put = *method == Method::PUT;
    let delete = *method == Method::DELETE;
    match route {
        Route::Healthz | Route::Metrics | Route::Ui if get => Open,
        Route::Session if get || post || delete => Open,
        Route::Services if get => AnyRole,
        Route::Service(_) if get => OnService(Viewer),
        Route::Service(_) if post || put || delete => OnService(Admin),
        Route::Config(..) if get => OnService(Viewer),
        Route::Config(..) if put => OnService(Editor),
        Route::Config(..) if post || delete => OnService(Admin),
        Route::Association(..) if get => OnService(Viewer),
        Route::Association(..) if put || delete => OnService(Editor),
        Route::Envs(_)
        | Route::Associations(_)
        | Route::Resolve(..)
        | Route::Dump(_)
        | Route::Verify(_)
        | Route::Clients(_)
        | Route::History(_)
        | Route::HistoryEntry(..)
        | Route::HistoryConfig(..)
        | Route::Events(_)
        | Route::PreviewDelete(..)
        | Route::Schema(_)
            if get =>
        {
            OnService(Viewer)
        }
        Route::Preview(..) if post => OnService(Viewer),
        Route::Repair(_) if post => OnService(Admin),
        Route::Rollback(_) if post => OnService(Editor),
        Route::Pins(_, env) if get && env.is_root() => OnService(Viewer),
        Route::Pins(..) if put || delete => OnService(Admin),
        Route::Schema(_) if put || delete => OnService(Admin),
        Route::Accounts if get || post => Global(Admin),
        Route::JonesHistory if get => Global(Admin),
        Route::Account(_) if delete => Global(Admin),
        _ => Global(Admin),
    }
}

/// Whether `caller` meets `needed` for `method` on `route`; the refusal
/// names what is missing: 401 without a valid credential, 403 when the
/// role is too low.
pub(crate) fn authorize(
    caller: &Caller,
    needed: Requirement,
    route: &Route,
    method: &Method,
    anonymous_read: bool,
) -> Result<(), ApiError> {
    let service = route.service();
    let get = *method == Method::GET || *method == Method::HEAD;
    let anonymous_ok = anonymous_read
        && get
        && matches!(
            needed,
            Requirement::AnyRole | Requirement::OnService(Role::Viewer)
        );
    let role = match needed {
        Requirement::Open => return Ok(()),
        Requirement::AnyRole => caller.role_on(None).or(match caller {
            Caller::Account(a) => a.grants().iter().map(|g| g.role).max(),
            _ => None,
        }),
        Requirement::OnService(_) => caller.role_on(service),
        Requirement::Global(_) => caller.role_on(None),
    };
    let enough = match needed {
        Requirement::Open | Requirement::AnyRole => role.is_some(),
        Requirement::OnService(r) | Requirement::Global(r) => role.is_some_and(|have| have >= r),
    };
    // With --anonymous-read a signed-in account reads at least what
    // anonymous requests may; a credential that proves nothing does not.
    if enough || (anonymous_ok && !matches!(caller, Caller::Refused(_))) {
        return Ok(());
    }
    let what = format!("{method} {}", route.template());
    let wanted = describe(needed, service);
    match caller {
        Caller::Anonymous => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            format!(
                "{what} needs {wanted}: send `Authorization: Bearer <token>` (an account's \
                 token from `jones account add`, or the admin token), or sign in to the editor"
            ),
        )),
        Caller::Refused(why) => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            format!(
                "the token sent is not valid ({why}); {what} needs {wanted}: send a current \
                 token as `Authorization: Bearer <token>`, or sign in to the editor again"
            ),
        )),
        Caller::Open(_) | Caller::Admin | Caller::Account(_) => {
            let account = caller.actor();
            let has = match (role, service, needed) {
                (Some(r), _, Requirement::Global(_)) => format!("is {r} on every service"),
                (None, _, Requirement::Global(_)) => "has no role on every service".to_owned(),
                (Some(r), Some(s), _) => format!("is {r} on service {s}"),
                (None, Some(s), _) => format!("has no role on service {s}"),
                (_, None, _) => "has no role".to_owned(),
            };
            let mut error = ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                format!("account {account} {has}; {what} needs {wanted}"),
            );
            error.body["account"] = json!(account);
            error.body["role"] = json!(role.map(Role::as_str));
            error.body["needed"] = json!(match needed {
                Requirement::OnService(r) | Requirement::Global(r) => r.as_str(),
                Requirement::Open | Requirement::AnyRole => "viewer",
            });
            error.body["service"] = json!(match needed {
                Requirement::Global(_) => None,
                _ => service.map(ServiceName::as_str),
            });
            Err(error)
        }
    }
}

/// `the editor role on service checkout`, `an admin role on every service`.
fn describe(needed: Requirement, service: Option<&ServiceName>) -> String {
    match (needed, service) {
        (Requirement::OnService(r), Some(s)) => format!("the {r} role on service {s}"),
        (Requirement::Global(r), _) => format!("the {r} role on every service"),
        _ => "a role on some service".to_owned(),
    }
}

/// Whether `caller` may see `service` in the service list: every service
/// when anonymous requests may read.
pub(crate) fn may_list(caller: &Caller, service: &ServiceName, anonymous_read: bool) -> bool {
    match caller {
        Caller::Anonymous => true,
        _ if anonymous_read => true,
        other => other.role_on(Some(service)).is_some(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Account, AccountName, Grant};

    fn svc(s: &str) -> ServiceName {
        ServiceName::new(s).unwrap()
    }

    fn account(grants: Vec<Grant>) -> Caller {
        Caller::Account(Account::new(AccountName::new("alice").unwrap(), grants))
    }

    #[test]
    fn roles_meet_requirements() {
        let route = Route::Config(svc("a"), jones_client::EnvPath::new("prod").unwrap());
        let put = Method::PUT;
        let needed = required(&route, &put);
        assert_eq!(needed, Requirement::OnService(Role::Editor));
        let editor = account(vec![Grant::on(Role::Editor, svc("a"))]);
        assert!(authorize(&editor, needed, &route, &put, false).is_ok());
        let viewer = account(vec![Grant::on(Role::Viewer, svc("a"))]);
        let refused = authorize(&viewer, needed, &route, &put, false).unwrap_err();
        assert_eq!(refused.status, StatusCode::FORBIDDEN);
        let message = refused.body["error"].as_str().unwrap();
        assert!(
            message.contains("account alice is viewer on service a")
                && message.contains("needs the editor role on service a"),
            "{message}"
        );
        assert_eq!(refused.body["role"], "viewer");
        assert_eq!(refused.body["needed"], "editor");
        let elsewhere = account(vec![Grant::on(Role::Admin, svc("b"))]);
        let refused = authorize(&elsewhere, needed, &route, &put, false).unwrap_err();
        assert!(
            refused.body["error"]
                .as_str()
                .unwrap()
                .contains("has no role on service a")
        );
        let global = account(vec![Grant::global(Role::Editor)]);
        assert!(authorize(&global, needed, &route, &put, false).is_ok());
        for open in [Caller::Admin, Caller::Open(None)] {
            assert!(authorize(&open, needed, &route, &put, false).is_ok());
        }
        for anonymous in [Caller::Anonymous, Caller::Refused("wrong")] {
            let refused = authorize(&anonymous, needed, &route, &put, true).unwrap_err();
            assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
            assert!(
                refused.body["error"]
                    .as_str()
                    .unwrap()
                    .contains("Authorization: Bearer"),
                "{:?}",
                refused.body
            );
        }
    }

    #[test]
    fn anonymous_reads_only_when_allowed() {
        let route = Route::Dump(svc("a"));
        let get = Method::GET;
        let needed = required(&route, &get);
        assert!(authorize(&Caller::Anonymous, needed, &route, &get, true).is_ok());
        assert!(authorize(&Caller::Anonymous, needed, &route, &get, false).is_err());
        assert!(
            authorize(&Caller::Refused("wrong"), needed, &route, &get, true).is_err(),
            "a wrong token is refused even where anonymous reads pass"
        );
        let preview = Route::Preview(svc("a"), jones_client::EnvPath::new("").unwrap());
        let post = Method::POST;
        let needed = required(&preview, &post);
        assert!(authorize(&Caller::Anonymous, needed, &preview, &post, true).is_err());
        let elsewhere = account(vec![Grant::on(Role::Viewer, svc("b"))]);
        assert!(authorize(&elsewhere, required(&route, &get), &route, &get, true).is_ok());
        assert!(authorize(&elsewhere, required(&route, &get), &route, &get, false).is_err());
    }

    #[test]
    fn accounts_need_a_global_admin() {
        let route = Route::Accounts;
        let get = Method::GET;
        let needed = required(&route, &get);
        let local_admin = account(vec![Grant::on(Role::Admin, svc("a"))]);
        let refused = authorize(&local_admin, needed, &route, &get, true).unwrap_err();
        assert_eq!(refused.status, StatusCode::FORBIDDEN);
        assert!(
            refused.body["error"]
                .as_str()
                .unwrap()
                .contains("needs the admin role on every service")
        );
        let global = account(vec![Grant::global(Role::Admin)]);
        assert!(authorize(&global, needed, &route, &get, false).is_ok());
    }

    #[test]
    fn unknown_methods_need_a_global_admin() {
        let route = Route::Dump(svc("a"));
        assert_eq!(
            required(&route, &Method::PATCH),
            Requirement::Global(Role::Admin)
        );
        assert_eq!(
            required(&Route::Ui, &Method::POST),
            Requirement::Global(Role::Admin)
        );
    }
}
