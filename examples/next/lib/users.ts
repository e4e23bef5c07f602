// A stand-in for the app's user database: any name signs in, with the password 'password'.
export function checkPassword(userName: string, password: string): boolean {
  return /^[a-z0-9_-]{1,32}$/i.test(userName) && password === 'password';
}
