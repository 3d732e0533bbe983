// Signs a user in with amazon-cognito-identity-js (the SRP client inside Amplify) against
// a Cognate server, and prints one JSON line: the tokens, the challenge it stopped at, or
// the error. Usage:
//   node srp_sign_in.cjs ENDPOINT POOL_ID CLIENT_ID USERNAME PASSWORD [NEW_PASSWORD [TOTP_CODE]]
// (an empty NEW_PASSWORD or TOTP_CODE stops at that challenge instead of answering it)
const { AuthenticationDetails, CognitoUser, CognitoUserPool } = require("amazon-cognito-identity-js");

const [endpoint, poolId, clientId, username, password, newPassword, totpCode] = process.argv.slice(2);
const pool = new CognitoUserPool({ UserPoolId: poolId, ClientId: clientId, endpoint });
const user = new CognitoUser({ Username: username, Pool: pool });
const details = new AuthenticationDetails({ Username: username, Password: password });

const print = (result) => {
  process.stdout.write(JSON.stringify(result) + "\n");
};

const callbacks = {
  onSuccess(session) {
    print({
      idToken: session.getIdToken().getJwtToken(),
      accessToken: session.getAccessToken().getJwtToken(),
      refreshToken: session.getRefreshToken().getToken(),
      username: user.getUsername(),
    });
  },
  onFailure(err) {
    print({ error: err.code || err.name, message: err.message });
  },
  newPasswordRequired() {
    if (newPassword) {
      user.completeNewPasswordChallenge(newPassword, {}, callbacks);
    } else {
      print({ challenge: "NEW_PASSWORD_REQUIRED" });
    }
  },
  totpRequired() {
    if (totpCode) {
      user.sendMFACode(totpCode, callbacks, "SOFTWARE_TOKEN_MFA");
    } else {
      print({ challenge: "SOFTWARE_TOKEN_MFA" });
    }
  },
  mfaSetup() {
    print({ challenge: "MFA_SETUP" });
  },
};

user.authenticateUser(details, callbacks);
