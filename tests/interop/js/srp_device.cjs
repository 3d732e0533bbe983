// Signs a user in with amazon-cognito-identity-js, keeping the library's storage (where it
// remembers device keys and device passwords) in a JSON file, so a later run is the same
// browser coming back. On a new device it confirms the device (the library does this by
// itself when the sign-in hands one out) and marks it remembered. Prints one JSON line:
// the tokens, the challenge it stopped at, or the error.
// Usage: node srp_device.cjs ENDPOINT POOL_ID CLIENT_ID USERNAME PASSWORD STORAGE_FILE
const fs = require("fs");
const { AuthenticationDetails, CognitoUser, CognitoUserPool } = require("amazon-cognito-identity-js");

const [endpoint, poolId, clientId, username, password, storageFile] = process.argv.slice(2);

class FileStorage {
  constructor(path) {
    this.path = path;
    this.data = fs.existsSync(path) ? JSON.parse(fs.readFileSync(path, "utf8")) : {};
  }
  save() {
    fs.writeFileSync(this.path, JSON.stringify(this.data));
  }
  setItem(key, value) {
    this.data[key] = value;
    this.save();
  }
  getItem(key) {
    return Object.prototype.hasOwnProperty.call(this.data, key) ? this.data[key] : null;
  }
  removeItem(key) {
    delete this.data[key];
    this.save();
  }
  clear() {
    this.data = {};
    this.save();
  }
}

const storage = new FileStorage(storageFile);
const pool = new CognitoUserPool({ UserPoolId: poolId, ClientId: clientId, endpoint, Storage: storage });
const user = new CognitoUser({ Username: username, Pool: pool, Storage: storage });
const print = (result) => process.stdout.write(JSON.stringify(result) + "\n");

user.authenticateUser(new AuthenticationDetails({ Username: username, Password: password }), {
  onSuccess(session, userConfirmationNecessary) {
    const done = () =>
      print({ accessToken: session.getAccessToken().getJwtToken(), confirmationNecessary: !!userConfirmationNecessary });
    if (userConfirmationNecessary) {
      user.setDeviceStatusRemembered({ onSuccess: done, onFailure: (err) => print({ error: err.code, message: err.message }) });
    } else {
      done();
    }
  },
  onFailure(err) {
    print({ error: err.code || err.name, message: err.message });
  },
  totpRequired() {
    print({ challenge: "SOFTWARE_TOKEN_MFA" });
  },
  mfaSetup() {
    print({ challenge: "MFA_SETUP" });
  },
  newPasswordRequired() {
    print({ challenge: "NEW_PASSWORD_REQUIRED" });
  },
});
