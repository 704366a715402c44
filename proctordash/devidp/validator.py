from oauth2_provider.oauth2_validators import OAuth2Validator

from proctordash.devidp import faults


class Validator(OAuth2Validator):
    # Return every claim the person has, whatever the scopes (a development provider; real ones map groups to scopes
    # or to an optional-claims setting).
    oidc_claim_scope = None

    def get_additional_claims(self, request):
        user = request.user
        person = getattr(user, "person", None)
        claims = {
            "preferred_username": user.username,
            "email": user.email,
            "name": user.get_full_name() or user.username,
            "given_name": user.first_name,
            "family_name": user.last_name,
        }
        if person is not None:
            claims.update(person.claims)
        return claims

    def get_id_token_dictionary(self, token, token_handler, request):
        claims, expiration_time = super().get_id_token_dictionary(token, token_handler, request)
        return faults.apply(claims), expiration_time
