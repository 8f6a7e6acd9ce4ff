//! Extractors: who is calling, with which role, from which IP. Handlers never
//! parse headers themselves.

use blytz::Code;
use std::future::{Ready, ready};
use std::marker::PhantomData;
use std::net::IpAddr;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use blytz::Error;
use blytz::accounts::{AccessClaims, Caller, Role};
use futures_util::future::LocalBoxFuture;

use crate::error::ApiError;
use crate::state::AppState;

/// An authenticated caller (a valid `Authorization: Bearer` access token):
/// the extractor of a [`Caller`], which it derefs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthUser(pub Caller);

impl AuthUser {
    /// The caller, as every service takes it.
    pub fn caller(&self) -> Caller {
        self.0
    }
}

impl std::ops::Deref for AuthUser {
    type Target = Caller;
    fn deref(&self) -> &Caller {
        &self.0
    }
}

impl From<&AccessClaims> for AuthUser {
    fn from(claims: &AccessClaims) -> Self {
        Self(Caller::new(claims.user_id(), claims.role))
    }
}

/// The bearer token of a request, if it has one.
pub fn bearer_token(req: &HttpRequest) -> Option<&str> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Verified claims of the request's bearer token: `Ok(None)` without one,
/// an error when it is present but invalid. The result is kept in the
/// request's extensions so a token is checked once per request.
pub fn verified_claims(req: &HttpRequest) -> Result<Option<AccessClaims>, Error> {
    if let Some(claims) = req.extensions().get::<AccessClaims>() {
        return Ok(Some(claims.clone()));
    }
    let Some(token) = bearer_token(req) else {
        return Ok(None);
    };
    let state = app_state(req)?;
    let claims = state.accounts.tokens().verify_access(token)?;
    req.extensions_mut().insert(claims.clone());
    Ok(Some(claims))
}

/// The application state of a request.
pub fn app_state(req: &HttpRequest) -> Result<&AppState, Error> {
    req.app_data::<web::Data<AppState>>()
        .map(|data| data.get_ref())
        .ok_or_else(|| Error::Internal(anyhow::anyhow!("application state is not registered")))
}

fn not_authenticated() -> Error {
    Error::refused(
        Code::NotAuthenticated,
        "this needs an access token: Authorization: Bearer <token>",
    )
}

impl FromRequest for AuthUser {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(match verified_claims(req) {
            Ok(Some(claims)) => Ok(Self::from(&claims)),
            Ok(None) => Err(not_authenticated().into()),
            Err(e) => Err(e.into()),
        })
    }
}

/// A caller who may be anonymous; a present but invalid token is still a 401.
#[derive(Debug, Clone, Copy)]
pub struct MaybeAuthUser(pub Option<AuthUser>);

impl FromRequest for MaybeAuthUser {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(
            verified_claims(req)
                .map(|claims| Self(claims.as_ref().map(AuthUser::from)))
                .map_err(ApiError::from),
        )
    }
}

/// A role requirement for [`RequireRole`].
pub trait RoleCheck {
    /// Whether `role` qualifies.
    fn allows(role: Role) -> bool;
    /// What the 403 says.
    const DESCRIPTION: &'static str;
}

/// Sellers (and admins, who may do anything).
#[derive(Debug)]
pub struct Seller;

impl RoleCheck for Seller {
    fn allows(role: Role) -> bool {
        role.can_sell()
    }
    const DESCRIPTION: &'static str = "only sellers may do this";
}

/// Admins only.
#[derive(Debug)]
pub struct Admin;

impl RoleCheck for Admin {
    fn allows(role: Role) -> bool {
        role == Role::Admin
    }
    const DESCRIPTION: &'static str = "only admins may do this";
}

/// An authenticated caller whose role passes `R`: 401 without a token, 403
/// with the wrong role.
#[derive(Debug, Clone, Copy)]
pub struct RequireRole<R> {
    /// The caller.
    pub user: AuthUser,
    _role: PhantomData<R>,
}

impl<R> std::ops::Deref for RequireRole<R> {
    type Target = AuthUser;
    fn deref(&self) -> &AuthUser {
        &self.user
    }
}

impl<R: RoleCheck> FromRequest for RequireRole<R> {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let user = match AuthUser::from_request(req, payload).into_inner() {
            Ok(user) => user,
            Err(e) => return ready(Err(e)),
        };
        ready(if R::allows(user.role) {
            Ok(Self {
                user,
                _role: PhantomData,
            })
        } else {
            Err(Error::forbidden(R::DESCRIPTION).into())
        })
    }
}

/// A login or register attempt: counted against the client IP's auth limit.
#[derive(Debug, Clone, Copy)]
pub struct AuthAttempt {
    /// The client IP it was counted against.
    pub ip: Option<IpAddr>,
}

impl FromRequest for AuthAttempt {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let state = app_state(&req)?;
            let ip = state.limits.client_ip_of(&req);
            if let Some(ip) = ip {
                state
                    .limits
                    .check(crate::limits::Kind::Auth, crate::limits::LimitKey::Ip(ip))
                    .await?;
            }
            Ok(Self { ip })
        })
    }
}
